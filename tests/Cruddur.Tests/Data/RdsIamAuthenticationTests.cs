using System.Globalization;
using Amazon;
using Amazon.Runtime;
using Cruddur.Shared.Data;
using Cruddur.Tests.Fixtures;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Cruddur.Tests.Data;

/// <summary>
/// RDS IAM authentication (<c>DATABASE_AUTH=iam</c>). A token is signed at the AWS SDK's clock; these tests pin that
/// clock (<see cref="AWSConfigs.ManualClockCorrection"/>, process-wide) to sign at a known time, so they run one after
/// another in this class. Other tests' SDK calls go to moto_server, which does not check when a request was signed.
/// </summary>
public sealed class RdsIamAuthenticationTests(PostgresServer server) : IDisposable
{
    // AWS's documented example keys: nothing real.
    private static readonly BasicAWSCredentials Keys = new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    private static readonly SessionAWSCredentials SessionKeys = new("ASIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "IQoJb3JpZ2luX2VjEXAMPLE/session+token==");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_token_equals_what_aws_rds_generate_db_auth_token_prints_for_the_same_credentials_region_and_time(bool session)
    {
        const string host = "cruddur-db-instance.abc123xyz.eu-west-1.rds.amazonaws.com";
        var keys = session ? SessionKeys.GetCredentials() : Keys.GetCredentials();
        var cli = await ProcessRunner.RunAsync("aws", ["rds", "generate-db-auth-token", "--hostname", host, "--port", "5432", "--username", "cruddur_api", "--region", "eu-west-1"],
            new Dictionary<string, string?>
            {
                ["AWS_ACCESS_KEY_ID"] = keys.AccessKey,
                ["AWS_SECRET_ACCESS_KEY"] = keys.SecretKey,
                ["AWS_SESSION_TOKEN"] = session ? keys.Token : null,
                ["AWS_PROFILE"] = null,
                ["AWS_ENDPOINT_URL"] = null,
                ["AWS_CONFIG_FILE"] = "/dev/null",
                ["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null",
            });
        Assert.True(cli.ExitCode == 0, cli.ToString());
        var printed = cli.Stdout.Trim();
        // The CLI signs at its own clock: sign at the time it wrote into its token.
        var signedAt = DateTime.ParseExact(Parameter(printed, "X-Amz-Date"), "yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
        var generator = new RdsAuthTokenGenerator(session ? SessionKeys : Keys, "eu-west-1");

        var token = await SignedAtAsync(signedAt, () => generator.GenerateAsync(host, 5432, "cruddur_api"));

        Assert.Equal(printed, token);
        Assert.StartsWith($"{host}:5432/?Action=connect&DBUser=cruddur_api&", token, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_token_reaches_postgresql_as_the_password_a_stale_one_is_refused_and_connections_after_a_refresh_carry_the_new_one()
    {
        var (url, role) = await DatabaseWithRoleAsync();
        var generator = new RdsAuthTokenGenerator(Keys, "us-east-1");
        var target = new NpgsqlConnectionStringBuilder(ConnectionUrl.Parse(url).ConnectionString) { Username = role, Password = null, Pooling = false };
        var first = WholeSecond(DateTime.UtcNow.AddMinutes(-2));
        var stale = await SignedAtAsync(first, () => generator.GenerateAsync(target.Host!, target.Port, role));
        await SetPasswordAsync(role, stale);
        // A refresh every 250 ms: within any second of the clock the data source holds that second's token.
        var builder = new NpgsqlDataSourceBuilder(target.ConnectionString).UseRdsIamAuthentication(generator, refresh: TimeSpan.FromMilliseconds(250));
        await using var dataSource = builder.Build();

        // The data source's first token is signed at the pinned clock: the one the role's password holds.
        AWSConfigs.ManualClockCorrection = first - DateTime.UtcNow;
        Assert.Equal(role, await CurrentUserAsync(dataSource));
        AWSConfigs.ManualClockCorrection = null;
        // The role's password moves to the token of a second just ahead (RDS would take any unexpired token; PostgreSQL
        // takes the one password it holds, so the test makes it the one the next refreshes will bring). A loaded
        // machine may let that second pass without a refresh or a try: then the next second ahead, up to five times.
        var refreshed = false;
        for (var attempt = 0; attempt < 5 && !refreshed; attempt++)
        {
            var ahead = WholeSecond(DateTime.UtcNow.AddSeconds(2));
            await SetPasswordAsync(role, await SignedAtAsync(ahead, () => generator.GenerateAsync(target.Host!, target.Port, role)));
            var refused = await Assert.ThrowsAsync<PostgresException>(() => OpenAsync(new NpgsqlConnectionStringBuilder(target.ConnectionString) { Password = stale }));
            Assert.Equal(PostgresErrorCodes.InvalidPassword, refused.SqlState);
            while (!refreshed && DateTime.UtcNow < ahead.AddSeconds(1.5))
            {
                try
                {
                    refreshed = await CurrentUserAsync(dataSource) == role;
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InvalidPassword)
                {
                    await Task.Delay(50); // a token of another second
                }
            }
        }

        Assert.True(refreshed, "no new connection carried the token a refresh made in the second the role's password held");
    }

    [Fact]
    public async Task With_DATABASE_AUTH_iam_the_processes_data_source_connects_with_a_token_and_never_logs_it()
    {
        var (url, role) = await DatabaseWithRoleAsync();
        var target = new NpgsqlConnectionStringBuilder(ConnectionUrl.Parse(url).ConnectionString);
        var noPassword = $"postgresql://{role}@{target.Host}:{target.Port}/{target.Database}";
        var signedAt = WholeSecond(DateTime.UtcNow.AddMinutes(-1));
        var generator = new RdsAuthTokenGenerator(Keys, "us-east-1");
        await SetPasswordAsync(role, await SignedAtAsync(signedAt, () => generator.GenerateAsync(target.Host!, target.Port, role)));
        var logs = new LogCollector();
        await using var services = new ServiceCollection()
            .AddLogging(logging => logging.SetMinimumLevel(LogLevel.Trace).AddProvider(logs))
            .AddCruddurData(Configuration(noPassword, "iam"))
            .AddSingleton(generator) // the process's own takes the SDK's credential chain; these are the test's keys
            .BuildServiceProvider();

        AWSConfigs.ManualClockCorrection = signedAt - DateTime.UtcNow;
        var user = await CurrentUserAsync(services.GetRequiredService<NpgsqlDataSource>());

        Assert.Equal(role, user);
        Assert.NotEmpty(logs.Lines);
        Assert.DoesNotContain(logs.Lines, line => line.Message.Contains("X-Amz-Signature", StringComparison.Ordinal) || line.Message.Contains("Action=connect", StringComparison.Ordinal));
    }

    [Fact]
    public async Task With_DATABASE_AUTH_iam_the_scripts_take_the_password_from_aws_rds_generate_db_auth_token()
    {
        // The aws CLI's tokens are checked against ours above; here a stand-in on PATH answers with a token the role's
        // password holds, and records how the script asked for it.
        var (url, role) = await DatabaseWithRoleAsync();
        var target = new NpgsqlConnectionStringBuilder(ConnectionUrl.Parse(url).ConnectionString);
        var token = $"{target.Host}:{target.Port}/?Action=connect&DBUser={role}&X-Amz-Signature={Guid.NewGuid():N}";
        await SetPasswordAsync(role, token);
        var bin = Directory.CreateTempSubdirectory("cruddur-aws-cli-").FullName;
        try
        {
            var aws = Path.Combine(bin, "aws");
            await File.WriteAllTextAsync(aws, $"#!/bin/sh\nprintf '%s\\n' \"$*\" >>'{bin}/calls'\nprintf '%s\\n' '{token}'\n");
            Assert.Equal(0, (await ProcessRunner.RunAsync("chmod", ["+x", aws])).ExitCode);

            var result = await Repository.RunScriptAsync("db-connect", ["-At", "-c", "SELECT current_user"], new Dictionary<string, string?>
            {
                ["CONNECTION_URL"] = $"postgresql://{role}@{target.Host}:{target.Port}/{target.Database}",
                ["DATABASE_AUTH"] = "iam",
                ["AWS_REGION"] = "eu-west-1",
                ["PATH"] = $"{bin}:{Environment.GetEnvironmentVariable("PATH")}",
            });

            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Equal($"{role}\n", result.Stdout);
            var calls = await File.ReadAllLinesAsync(Path.Combine(bin, "calls"));
            Assert.All(calls, call => Assert.Equal($"rds generate-db-auth-token --hostname {target.Host} --port {target.Port} --username {role} --region eu-west-1", call));
        }
        finally
        {
            Directory.Delete(bin, recursive: true);
        }
    }

    [Fact]
    public void DATABASE_AUTH_iam_with_a_password_in_the_url_or_an_unknown_DATABASE_AUTH_stops_startup_naming_the_setting()
    {
        using var withPassword = new ServiceCollection().AddLogging().AddCruddurData(Configuration("postgresql://cruddur_api:secret@db.example.com/cruddur", "iam")).BuildServiceProvider();
        var password = Assert.Throws<InvalidOperationException>(() => withPassword.GetRequiredService<NpgsqlDataSource>());
        var unknown = Assert.Throws<OptionsValidationException>(() =>
            new ServiceCollection().AddLogging().AddCruddurData(Configuration("postgresql://cruddur_api@db.example.com/cruddur", "kerberos")));

        Assert.StartsWith("DATABASE_AUTH=iam, but the database URL for cruddur_api@db.example.com carries a password", password.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", password.Message, StringComparison.Ordinal);
        Assert.Contains("DATABASE_AUTH", unknown.Message, StringComparison.Ordinal);
    }

    public void Dispose() => AWSConfigs.ManualClockCorrection = null;

    private static IConfiguration Configuration(string url, string authentication) => new ConfigurationBuilder()
        .AddInMemoryCollection(new Dictionary<string, string?> { ["CONNECTION_URL"] = url, ["DATABASE_AUTH"] = authentication })
        .Build();

    /// <summary>Runs <paramref name="sign"/> with the AWS SDK's clock at <paramref name="at"/> (to the second, as tokens are).</summary>
    private static async Task<string> SignedAtAsync(DateTime at, Func<ValueTask<string>> sign)
    {
        AWSConfigs.ManualClockCorrection = at - DateTime.UtcNow;
        try
        {
            return await sign();
        }
        finally
        {
            AWSConfigs.ManualClockCorrection = null;
        }
    }

    // A token carries its time to the second: signing a moment after a whole second makes the same token.
    private static DateTime WholeSecond(DateTime time) => new(time.Ticks - (time.Ticks % TimeSpan.TicksPerSecond), DateTimeKind.Utc);

    private async Task<(string Url, string Role)> DatabaseWithRoleAsync()
    {
        var url = await server.CreateDatabaseAsync("iam");
        var role = $"iam_{Guid.NewGuid():N}"[..20];
        await AdminAsync($"CREATE ROLE {role} LOGIN");
        return (url, role);
    }

    private Task SetPasswordAsync(string role, string token) =>
        AdminAsync($"ALTER ROLE {role} PASSWORD '{token.Replace("'", "''", StringComparison.Ordinal)}'");

    private async Task AdminAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionUrl.Parse(server.AdminUrl).ConnectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<string> CurrentUserAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand("SELECT current_user");
        return (string)(await command.ExecuteScalarAsync())!;
    }

    private static async Task OpenAsync(NpgsqlConnectionStringBuilder connection)
    {
        await using var opened = new NpgsqlConnection(connection.ConnectionString);
        await opened.OpenAsync();
    }

    private static string Parameter(string token, string name) =>
        token[(token.IndexOf('?', StringComparison.Ordinal) + 1)..].Split('&')
            .Select(pair => pair.Split('=', 2)).Single(pair => pair[0] == name)[1];
}

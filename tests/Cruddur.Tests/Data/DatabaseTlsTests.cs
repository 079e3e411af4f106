using System.Net;
using Cruddur.Shared.Data;
using Cruddur.Tests.Fixtures;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Cruddur.Tests.Data;

/// <summary>
/// A PostgreSQL serving a certificate from a throwaway CA (openssl), reached by this machine's host name, which is
/// not one the code knows as this machine (it resolves to 127.0.0.1 here): the path a remote RDS host takes.
/// </summary>
public sealed class TlsPostgres : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"cruddur-tls-{Guid.NewGuid():N}");

    public PostgresServer Server { get; private set; } = null!;

    /// <summary>The name on the server's certificate: this machine's host name.</summary>
    public string HostName { get; } = Dns.GetHostName();

    /// <summary>False where the host name does not lead to this machine's loopback, where the server listens.</summary>
    public bool HostNameIsLoopback { get; private set; }

    public string CaBundle => Path.Combine(_directory, "ca.crt");

    public string WrongCaBundle => Path.Combine(_directory, "wrong-ca.crt");

    /// <summary>The superuser's URL to a database by <see cref="HostName"/>.</summary>
    public string Url(string database = "postgres") =>
        PostgresServer.WithDatabase(Server.AdminUrl, database).Replace("@127.0.0.1:", $"@{HostName}:", StringComparison.Ordinal);

    public async ValueTask InitializeAsync()
    {
        try
        {
            HostNameIsLoopback = (await Dns.GetHostAddressesAsync(HostName)).Any(IPAddress.IsLoopback);
        }
        catch (System.Net.Sockets.SocketException)
        {
            HostNameIsLoopback = false; // a machine whose own name does not resolve: the tests that need it skip
        }
        Directory.CreateDirectory(_directory);
        await OpenSsl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Cruddur test CA",
            "-keyout", Path.Combine(_directory, "ca.key"), "-out", CaBundle);
        await OpenSsl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Cruddur test CA",
            "-keyout", Path.Combine(_directory, "wrong-ca.key"), "-out", WrongCaBundle);
        await OpenSsl("req", "-newkey", "rsa:2048", "-nodes", "-subj", $"/CN={HostName}",
            "-keyout", Path.Combine(_directory, "server.key"), "-out", Path.Combine(_directory, "server.csr"));
        await File.WriteAllTextAsync(Path.Combine(_directory, "server.ext"),
            $"subjectAltName=DNS:{HostName}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n");
        await OpenSsl("x509", "-req", "-days", "1", "-in", Path.Combine(_directory, "server.csr"), "-CA", CaBundle,
            "-CAkey", Path.Combine(_directory, "ca.key"), "-CAcreateserial", "-extfile", Path.Combine(_directory, "server.ext"),
            "-out", Path.Combine(_directory, "server.crt"));
        await ProcessRunner.RunAsync("chmod", ["600", Path.Combine(_directory, "server.key")]); // PostgreSQL refuses a key others can read
        if (Environment.UserName == "root")
        {
            await ProcessRunner.RunAsync("chown", ["-R", "postgres:postgres", _directory]);
        }
        Server = await PostgresServer.StartOwnAsync(serverOptions:
            $"-c ssl=on -c ssl_cert_file={Path.Combine(_directory, "server.crt")} -c ssl_key_file={Path.Combine(_directory, "server.key")}");
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private static async Task OpenSsl(params string[] arguments)
    {
        var result = await ProcessRunner.RunAsync("openssl", arguments);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"openssl {arguments[0]} failed: {result}");
        }
    }
}

/// <summary>Verified TLS (<c>DB_CA_BUNDLE</c>): the right CA and host name connect; a wrong CA or name is refused, naming the setting.</summary>
public class DatabaseTlsTests(TlsPostgres tls) : IClassFixture<TlsPostgres>
{
    [Fact]
    public async Task With_the_ca_bundle_a_host_that_is_not_this_machine_is_verified_and_connects_over_tls()
    {
        Assert.SkipUnless(tls.HostNameIsLoopback, $"{tls.HostName} does not resolve to this machine's loopback");
        await using var services = Services(tls.Url(), tls.CaBundle);
        var dataSource = services.GetRequiredService<NpgsqlDataSource>();

        await using var connection = await dataSource.OpenConnectionAsync();
        await using var command = new NpgsqlCommand("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", connection);

        Assert.Equal(SslMode.VerifyFull, new NpgsqlConnectionStringBuilder(dataSource.ConnectionString).SslMode);
        Assert.True((bool)(await command.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task Without_the_ca_bundle_the_same_host_is_encrypted_but_not_verified_as_before()
    {
        Assert.SkipUnless(tls.HostNameIsLoopback, $"{tls.HostName} does not resolve to this machine's loopback");
        await using var services = Services(tls.Url(), caBundle: null);

        var dataSource = services.GetRequiredService<NpgsqlDataSource>();

        Assert.Equal(SslMode.Require, new NpgsqlConnectionStringBuilder(dataSource.ConnectionString).SslMode);
    }

    [Fact]
    public async Task A_worker_given_the_wrong_ca_stops_with_a_message_naming_DB_CA_BUNDLE()
    {
        Assert.SkipUnless(tls.HostNameIsLoopback, $"{tls.HostName} does not resolve to this machine's loopback");

        var output = await WorkerOutputAsync(tls.Url(), tls.WrongCaBundle);

        Assert.Contains($"The database server {tls.HostName}:{tls.Server.Port} was refused: its certificate did not verify", output, StringComparison.Ordinal);
        Assert.Contains($"DB_CA_BUNDLE={tls.WrongCaBundle}", output, StringComparison.Ordinal);
        Assert.DoesNotContain(PostgresServer.Password, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_worker_reaching_the_server_by_another_name_than_its_certificate_s_stops_with_a_message_naming_DB_CA_BUNDLE()
    {
        // The right CA, but 127.0.0.1 is not the name on the certificate: what a machine in the middle with a
        // certificate of the same CA for another name would look like.
        var byAddress = PostgresServer.WithDatabase(tls.Server.AdminUrl, "postgres") + "?sslmode=verify-full";

        var output = await WorkerOutputAsync(byAddress, tls.CaBundle);

        Assert.Contains($"The database server 127.0.0.1:{tls.Server.Port} was refused: its certificate did not verify", output, StringComparison.Ordinal);
        Assert.Contains("DB_CA_BUNDLE", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_scripts_verify_with_the_ca_bundle_and_name_it_when_the_certificate_does_not_verify()
    {
        Assert.SkipUnless(tls.HostNameIsLoopback, $"{tls.HostName} does not resolve to this machine's loopback");
        string[] query = ["-At", "-c", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"];

        var right = await Repository.RunScriptAsync("db-connect", query, new Dictionary<string, string?> { ["CONNECTION_URL"] = tls.Url(), ["DB_CA_BUNDLE"] = tls.CaBundle });
        var wrongCa = await Repository.RunScriptAsync("db-connect", query, new Dictionary<string, string?> { ["CONNECTION_URL"] = tls.Url(), ["DB_CA_BUNDLE"] = tls.WrongCaBundle });
        var wrongName = await Repository.RunScriptAsync("db-connect", query, new Dictionary<string, string?>
        {
            ["CONNECTION_URL"] = PostgresServer.WithDatabase(tls.Server.AdminUrl, "postgres") + "?sslmode=verify-full",
            ["DB_CA_BUNDLE"] = tls.CaBundle,
        });

        Assert.True(right.ExitCode == 0, right.ToString());
        Assert.Equal("t\n", right.Stdout);
        foreach (var refused in new[] { wrongCa, wrongName })
        {
            Assert.Equal(1, refused.ExitCode);
            Assert.Contains("its certificate did not verify (DB_CA_BUNDLE=", refused.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain(PostgresServer.Password, refused.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_ca_bundle_that_is_not_there_stops_startup_naming_the_setting()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Services(tls.Url(), "/nonexistent/global-bundle.pem").GetRequiredService<NpgsqlDataSource>());

        Assert.StartsWith("DB_CA_BUNDLE: no file at '/nonexistent/global-bundle.pem'", error.Message, StringComparison.Ordinal);
    }

    private static ServiceProvider Services(string url, string? caBundle) => new ServiceCollection()
        .AddLogging()
        .AddCruddurData(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["CONNECTION_URL"] = url,
            ["DB_CA_BUNDLE"] = caBundle,
        }).Build())
        .BuildServiceProvider();

    private static async Task<string> WorkerOutputAsync(string url, string caBundle)
    {
        await using var worker = ServiceProcess.Start(Repository.WorkerDll, new Dictionary<string, string?>
        {
            ["CONNECTION_URL"] = url,
            ["DB_CA_BUNDLE"] = caBundle,
        });
        var exitCode = await worker.WaitForExitAsync(TimeSpan.FromSeconds(90));
        Assert.True(exitCode == 1, worker.Output);
        return worker.Output;
    }
}

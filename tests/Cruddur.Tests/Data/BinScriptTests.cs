using Cruddur.Shared.Data;
using Cruddur.Tests.Fixtures;
using Npgsql;

namespace Cruddur.Tests.Data;

/// <summary>The seed's database scripts, run against the test server as a developer runs them.</summary>
public class BinScriptTests(PostgresServer server)
{
    [Fact]
    public async Task Db_setup_on_a_bare_server_leaves_the_schema_two_users_and_one_activity()
    {
        var url = server.UrlForNewDatabase("setup");

        var result = await Repository.RunScriptAsync("db-setup", [], Env(url));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal((2L, 1L), await CountsAsync(url));
        Assert.Contains("== db-setup", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Schema_load_and_seed_run_again_lose_nothing_and_add_nothing()
    {
        var url = server.UrlForNewDatabase("again");
        Assert.Equal(0, (await Repository.RunScriptAsync("db-setup", [], Env(url))).ExitCode);
        await ExecuteAsync(url, "INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES ('K', 'kept', 'k@example.com', 'sub-kept')");

        var schema = await Repository.RunScriptAsync("db-schema-load", [], Env(url));
        var seed = await Repository.RunScriptAsync("db-seed", [], Env(url));

        Assert.True(schema.ExitCode == 0, schema.ToString());
        Assert.True(seed.ExitCode == 0, seed.ToString());
        Assert.Contains("up to date", schema.Stdout, StringComparison.Ordinal);
        Assert.Equal((3L, 1L), await CountsAsync(url));
    }

    [Fact]
    public async Task Prod_uses_prod_connection_url()
    {
        var url = server.UrlForNewDatabase("prod");
        var env = new Dictionary<string, string?> { ["PROD_CONNECTION_URL"] = url };

        var create = await Repository.RunScriptAsync("db-create", ["prod"], env);
        var schema = await Repository.RunScriptAsync("db-schema-load", ["prod"], env);

        Assert.True(create.ExitCode == 0 && schema.ExitCode == 0, create + "\n" + schema);
        Assert.Contains("running in production", schema.Stderr, StringComparison.Ordinal);
        Assert.Equal((0L, 0L), await CountsAsync(url));
    }

    [Fact]
    public async Task Db_drop_prod_without_yes_refuses_and_keeps_the_database()
    {
        var url = server.UrlForNewDatabase("keep");
        Assert.Equal(0, (await Repository.RunScriptAsync("db-setup", [], Env(url))).ExitCode);

        var refused = await Repository.RunScriptAsync("db-drop", ["prod"], new Dictionary<string, string?> { ["PROD_CONNECTION_URL"] = url });

        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("--yes", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal((2L, 1L), await CountsAsync(url));
    }

    [Fact]
    public async Task Db_drop_removes_the_database_even_with_sessions_open()
    {
        var url = server.UrlForNewDatabase("drop");
        Assert.Equal(0, (await Repository.RunScriptAsync("db-setup", [], Env(url))).ExitCode);
        await using var open = new NpgsqlConnection(ConnectionUrl.Parse(url).ConnectionString);
        await open.OpenAsync();

        var drop = await Repository.RunScriptAsync("db-drop", [], Env(url));

        Assert.True(drop.ExitCode == 0, drop.ToString());
        await Assert.ThrowsAsync<PostgresException>(() => CountsAsync(url));
    }

    [Fact]
    public async Task Db_connect_passes_arguments_to_psql_and_db_sessions_lists_connections()
    {
        var url = server.UrlForNewDatabase("connect");
        Assert.Equal(0, (await Repository.RunScriptAsync("db-setup", [], Env(url))).ExitCode);

        var connect = await Repository.RunScriptAsync("db-connect", ["-At", "-c", "SELECT handle FROM users ORDER BY handle"], Env(url));
        var sessions = await Repository.RunScriptAsync("db-sessions", [], Env(url));

        Assert.Contains("andrewbrown\nbayko", connect.Stdout, StringComparison.Ordinal);
        Assert.Contains("process_id", sessions.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_readmes_user_removal_pasted_as_it_is_removes_the_user_and_everything_of_theirs()
    {
        var url = server.UrlForNewDatabase("removal");
        Assert.Equal(0, (await Repository.RunScriptAsync("db-setup", [], Env(url))).ExitCode);
        await ExecuteAsync(url, """
            INSERT INTO activities (user_uuid, message, expires_at) SELECT uuid, 'mine', current_timestamp + interval '1 day' FROM users WHERE handle = 'bayko';
            INSERT INTO idempotency_keys (user_handle, key, fingerprint, status, body) VALUES ('bayko', 'k', 'f', 202, '{}');
            INSERT INTO sign_up_failures (cognito_user_id, handle) VALUES ('MOCK-bayko', 'taken');
            """);
        var section = Repository.Readme[Repository.Readme.IndexOf("### Removing a user", StringComparison.Ordinal)..];
        var commands = System.Text.RegularExpressions.Regex.Match(section, "```bash\n(.*?)```", System.Text.RegularExpressions.RegexOptions.Singleline)
            .Groups[1].Value.Replace("HANDLE", "bayko", StringComparison.Ordinal);

        var removal = await Repository.RunAsPastedAsync(commands, Env(url));

        Assert.True(removal.ExitCode == 0, removal.ToString());
        Assert.Equal(
            "andrewbrown|1|0|0",
            await ScalarAsync(url, """
                SELECT concat_ws('|', string_agg(handle, ','), (SELECT count(*) FROM activities),
                  (SELECT count(*) FROM idempotency_keys), (SELECT count(*) FROM sign_up_failures)) FROM users
                """));
    }

    [Theory]
    [InlineData("db-create")]
    [InlineData("db-drop")]
    [InlineData("db-schema-load")]
    [InlineData("db-seed")]
    [InlineData("db-sessions")]
    [InlineData("db-setup")]
    public async Task Every_script_without_a_url_says_so_and_exits_1(string script)
    {
        var result = await Repository.RunScriptAsync(script, [], new Dictionary<string, string?>());

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("CONNECTION_URL is not set", result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("db-create")]
    [InlineData("db-schema-load")]
    [InlineData("db-seed")]
    public async Task An_unreachable_server_is_a_clear_error_that_hides_the_password(string script)
    {
        var url = $"postgresql://postgres:{Uri.EscapeDataString(PostgresServer.Password)}@127.0.0.1:1/cruddur";

        var result = await Repository.RunScriptAsync(script, [], Env(url));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("cannot reach PostgreSQL at postgresql://postgres:***@127.0.0.1:1", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(PostgresServer.Password, result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(Uri.EscapeDataString(PostgresServer.Password), result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_password_with_an_unencoded_question_mark_is_hidden_too()
    {
        // libpq reads it (its user info ends at the '@'); a '?' must not end the redaction before the password does.
        var result = await Repository.RunScriptAsync("db-seed", [], Env("postgresql://postgres:hunter2secret?x@127.0.0.1:1/cruddur"));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("cannot reach PostgreSQL at postgresql://postgres:***@127.0.0.1:1", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2secret", result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("db-create")]
    [InlineData("db-schema-load")]
    [InlineData("db-seed")]
    public async Task A_password_in_the_urls_query_is_refused_and_never_printed(string script)
    {
        // libpq takes ?password=; psql's command line would show it to every local user, and the Api refuses it.
        var url = $"postgresql://postgres@127.0.0.1:1/cruddur?sslmode=disable&password={Uri.EscapeDataString(PostgresServer.Password)}";

        var result = await Repository.RunScriptAsync(script, [], Env(url));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("has its password in the query", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(Uri.EscapeDataString(PostgresServer.Password), result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(PostgresServer.Password, result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Db_connect_prints_only_what_psql_prints_on_stdout()
    {
        var url = server.UrlForNewDatabase("pipe");
        Assert.Equal(0, (await Repository.RunScriptAsync("db-setup", [], Env(url))).ExitCode);

        var result = await Repository.RunScriptAsync("db-connect", ["-X", "-A", "-t", "-c", "SELECT handle FROM users ORDER BY handle"], Env(url));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("andrewbrown\nbayko\n", result.Stdout);
        Assert.Contains("running in development", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_database_host_that_is_not_this_machine_is_reached_only_over_tls()
    {
        // The test server has no TLS. Spelled as an IPv4-mapped IPv6 address, its host is not one the scripts know as
        // this machine, so they must require TLS (psql's own default, prefer, would quietly fall back to plain text).
        var url = server.UrlForNewDatabase("tls").Replace($"@{server.Host}:", "@[::ffff:127.0.0.1]:", StringComparison.Ordinal);
        var env = new Dictionary<string, string?> { ["PROD_CONNECTION_URL"] = url };

        var result = await Repository.RunScriptAsync("db-create", ["prod"], env);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("SSL", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(PostgresServer.Password, result.Output, StringComparison.Ordinal);
    }

    private static Dictionary<string, string?> Env(string url) => new() { ["CONNECTION_URL"] = url };

    private static async Task<string?> ScalarAsync(string url, string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionUrl.Parse(url).ConnectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (string?)await command.ExecuteScalarAsync();
    }

    /// <summary>How many users and activities the database at <paramref name="url"/> holds.</summary>
    internal static async Task<(long Users, long Activities)> CountsAsync(string url)
    {
        await using var connection = new NpgsqlConnection(ConnectionUrl.Parse(url).ConnectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM activities)", connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    /// <summary>Runs <paramref name="sql"/> on the database at <paramref name="url"/>, without a pool.</summary>
    internal static async Task ExecuteAsync(string url, string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionUrl.Parse(url).ConnectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}

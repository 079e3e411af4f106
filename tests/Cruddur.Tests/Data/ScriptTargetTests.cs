using Cruddur.Shared.Data;
using Cruddur.Tests.Fixtures;
using Npgsql;

namespace Cruddur.Tests.Data;

/// <summary>
/// The database scripts act on the database they are told, and on no other, while bin/up's database listens on
/// its port; and no password shows in any process's command line while they run.
/// </summary>
public class ScriptTargetTests(PostgresServer server)
{
    /// <summary>bin/up's port and password: the Worker's launch profile points there.</summary>
    private const int BinUpPort = 15432;

    [Fact]
    public async Task Every_database_script_run_as_a_person_types_it_changes_only_the_named_database_even_with_bin_up_running()
    {
        Assert.SkipWhen(PortIsTaken(BinUpPort), $"port {BinUpPort} is taken (bin/up running?): this test starts a database of its own there");
        await using var binUp = await PostgresServer.StartOwnAsync(BinUpPort, "password");
        await BinScriptTests.ExecuteAsync(binUp.AdminUrl, "CREATE DATABASE cruddur");
        var binUpBefore = await SnapshotAsync(binUp);
        var development = server.UrlForNewDatabase("told");
        var production = server.UrlForNewDatabase("toldprod");
        // No CRUDDUR_WORKER_DLL: bin/db-schema-load builds and runs the Worker with dotnet run, as on a developer's machine.
        var env = new Dictionary<string, string?>
        {
            ["CONNECTION_URL"] = development,
            ["PROD_CONNECTION_URL"] = production,
            ["CRUDDUR_WORKER_DLL"] = null,
        };

        foreach (var (script, arguments) in new (string, string[])[]
                 {
                     ("db-create", []), ("db-schema-load", []), ("db-seed", []), ("db-connect", ["-c", "SELECT 1"]), ("db-sessions", []),
                     ("db-create", ["prod"]), ("db-schema-load", ["prod"]), ("db-seed", ["prod"]), ("db-connect", ["prod", "-c", "SELECT 1"]),
                     ("db-setup", []), ("db-setup", ["prod", "--yes"]),
                 })
        {
            var result = await Repository.RunScriptAsync(script, arguments, env, TimeSpan.FromMinutes(5));
            Assert.True(result.ExitCode == 0, $"bin/{script} {string.Join(' ', arguments)}: {result}");
        }

        Assert.Equal((2L, 1L), await BinScriptTests.CountsAsync(development));
        Assert.Equal((2L, 1L), await BinScriptTests.CountsAsync(production));
        Assert.Equal(binUpBefore, await SnapshotAsync(binUp));
    }

    [Fact]
    public async Task No_password_appears_in_any_command_line_while_the_database_scripts_run()
    {
        var url = server.UrlForNewDatabase("argv");
        var env = new Dictionary<string, string?>
        {
            ["CONNECTION_URL"] = url,
            ["DB_MIGRATOR_PASSWORD"] = PostgresServer.Password, // bin/db-roles sets the roles' passwords: the fixture's own
            ["DB_API_PASSWORD"] = PostgresServer.Password,
            ["DB_WORKER_PASSWORD"] = PostgresServer.Password,
        };
        string[] secrets = [PostgresServer.Password, Uri.EscapeDataString(PostgresServer.Password)];
        using var stop = new CancellationTokenSource();
        var watcher = Task.Run(() => CommandLinesContaining(secrets, stop.Token));

        foreach (var (script, arguments) in new (string, string[])[]
                 {
                     ("db-setup", []), ("db-roles", []), ("db-seed", []), ("db-connect", ["-c", "SELECT count(*) FROM users"]), ("db-sessions", []), ("db-drop", []),
                 })
        {
            var result = await Repository.RunScriptAsync(script, arguments, env);
            Assert.True(result.ExitCode == 0, $"bin/{script}: {result}");
        }
        await stop.CancelAsync();
        var (seen, scans) = await watcher;

        Assert.True(scans > 20, $"only {scans} scans of /proc: the watcher cannot have seen the scripts");
        Assert.Empty(seen);
    }

    /// <summary>Reads every process's command line over and over; returns those holding a secret (redacted) and the scans made.</summary>
    private static (List<string> Seen, int Scans) CommandLinesContaining(string[] secrets, CancellationToken stop)
    {
        var seen = new List<string>();
        var scans = 0;
        while (!stop.IsCancellationRequested)
        {
            foreach (var directory in Directory.EnumerateDirectories("/proc"))
            {
                string commandLine;
                try
                {
                    commandLine = File.ReadAllText(Path.Combine(directory, "cmdline")).Replace('\0', ' ');
                }
                catch (IOException) { continue; } // the process ended
                catch (UnauthorizedAccessException) { continue; }
                foreach (var secret in secrets.Where(s => commandLine.Contains(s, StringComparison.Ordinal)))
                {
                    seen.Add(commandLine.Replace(secret, "***", StringComparison.Ordinal));
                }
            }
            scans++;
        }
        return (seen, scans);
    }

    /// <summary>Each database of a server with its tables.</summary>
    private static async Task<string> SnapshotAsync(PostgresServer cluster)
    {
        var lines = new List<string>();
        await using var admin = new NpgsqlConnection(ConnectionUrl.Parse(cluster.AdminUrl).ConnectionString + ";Pooling=false");
        await admin.OpenAsync();
        var databases = new List<string>();
        await using (var list = new NpgsqlCommand("SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY datname", admin))
        await using (var reader = await list.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                databases.Add(reader.GetString(0));
            }
        }
        foreach (var database in databases)
        {
            await using var connection = new NpgsqlConnection(ConnectionUrl.Parse(PostgresServer.WithDatabase(cluster.AdminUrl, database)).ConnectionString + ";Pooling=false");
            await connection.OpenAsync();
            await using var tables = new NpgsqlCommand(
                "SELECT string_agg(schemaname || '.' || relname, ',' ORDER BY schemaname, relname) FROM pg_stat_user_tables", connection);
            lines.Add($"{database}: {await tables.ExecuteScalarAsync()}");
        }
        return string.Join('\n', lines);
    }

    private static bool PortIsTaken(int port)
    {
        try
        {
            using var client = new System.Net.Sockets.TcpClient();
            client.Connect(System.Net.IPAddress.Loopback, port);
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }
}

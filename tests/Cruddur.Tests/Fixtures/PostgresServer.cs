using Cruddur.Shared.Data;
using Npgsql;

[assembly: AssemblyFixture(typeof(Cruddur.Tests.Fixtures.PostgresServer))]

namespace Cruddur.Tests.Fixtures;

/// <summary>
/// One throwaway PostgreSQL cluster for the whole test run: initdb into a temp dir, a free loopback port,
/// started as the <c>postgres</c> user when the tests run as root, removed afterwards.
/// Each test takes its own database from <see cref="CreateDatabaseAsync"/>, so tests run in parallel.
/// <c>TEST_CONNECTION_URL</c> (a URL to any database on an existing server) replaces the cluster.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    /// <summary>The cluster's superuser password, and its roles': tests scan logs for it.</summary>
    public const string Password = "pg-Secret:with@chars-4711";

    /// <summary>The migration role each test database belongs to (it owns <c>public</c>, as bin/db-roles arranges on RDS).</summary>
    public const string MigrationRole = "cruddur_migrator";

    /// <summary>
    /// The login the tests' Api and Worker run as: a member of <c>cruddur_runtime</c>, the group bin/db-roles makes, which
    /// <c>db/grants.sql</c> lets read and write rows and nothing else.
    /// </summary>
    public const string RuntimeRole = "cruddur_app";

    private string _password = Password;
    private int? _port;
    private string _serverOptions = "";
    private string? _directory;
    private string _dataDirectory = "";
    private bool _own;
    private string _options = "";
    private IReadOnlyList<string> _initdbOptions = [];

    /// <summary>A URL to the maintenance database; replace the path to reach another database.</summary>
    public string AdminUrl { get; private set; } = "";

    public string Host { get; private set; } = "127.0.0.1";

    public int Port { get; private set; }

    public async ValueTask InitializeAsync()
    {
        var existing = Environment.GetEnvironmentVariable("TEST_CONNECTION_URL");
        if (!string.IsNullOrEmpty(existing) && !_own)
        {
            var parsed = ConnectionUrl.Parse(existing);
            Host = parsed.Host!;
            Port = parsed.Port;
            AdminUrl = WithDatabase(existing, "postgres");
            return;
        }

        _directory = Path.Combine(Path.GetTempPath(), $"cruddur-test-pg-{Guid.NewGuid():N}");
        _dataDirectory = Path.Combine(_directory, "data");
        Directory.CreateDirectory(_directory);
        var passwordFile = Path.Combine(_directory, "pwfile");
        await File.WriteAllTextAsync(passwordFile, _password);
        if (RunningAsRoot)
        {
            await Must(ProcessRunner.RunAsync("chown", ["-R", "postgres:postgres", _directory]));
        }

        await Must(RunAsPostgres(PostgresTools.Find("initdb"), [
            "-D", _dataDirectory, "-U", "postgres", "--pwfile", passwordFile, "-E", "UTF8", "--no-locale",
            "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", .. _initdbOptions]));

        Port = _port ?? PortAllocator.Free();
        // The shared cluster is thrown away, and speed matters more than crash safety there: durability off.
        // A cluster of a test's own is crashed on purpose (pg_ctl -m immediate): it keeps PostgreSQL's durable
        // defaults, or a commit that was acknowledged could vanish in recovery and the test would blame us.
        var durability = _own ? "" : "-c fsync=off -c synchronous_commit=off -c full_page_writes=off ";
        var options = _options = $"-c listen_addresses=127.0.0.1 -p {Port} -k {_directory} {durability}" +
                      $"-c max_connections=400 -c shared_buffers=128MB {_serverOptions}".TrimEnd();
        await Must(RunAsPostgres(PostgresTools.Find("pg_ctl"),
            "-D", _dataDirectory, "-l", Path.Combine(_directory, "postgres.log"), "-o", options, "-w", "-t", "60", "start"));
        AdminUrl = $"postgresql://postgres:{Uri.EscapeDataString(_password)}@127.0.0.1:{Port}/postgres";
        await CreateRolesAsync();
    }

    /// <summary>True when this run made the cluster, and with it the migration and runtime roles.</summary>
    public bool HasRoles { get; private set; }

    private async Task CreateRolesAsync()
    {
        await using var connection = new NpgsqlConnection(ConnectionUrl.Parse(AdminUrl).ConnectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var create = new NpgsqlCommand(
            $"CREATE ROLE {MigrationRole} LOGIN PASSWORD '{_password}'; CREATE ROLE cruddur_runtime NOLOGIN; " +
            $"CREATE ROLE {RuntimeRole} LOGIN PASSWORD '{_password}' IN ROLE cruddur_runtime", connection);
        await create.ExecuteNonQueryAsync();
        HasRoles = true;
    }

    public async ValueTask DisposeAsync()
    {
        if (_directory is null)
        {
            return;
        }
        if (Directory.Exists(_dataDirectory))
        {
            await RunAsPostgres(PostgresTools.Find("pg_ctl"), "-D", _dataDirectory, "-m", "immediate", "-w", "stop");
        }
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>
    /// A cluster of its own, for a test that stops or restarts PostgreSQL (the shared one serves every other
    /// test at the same time), or one that stands in for another server (bin/up's, on its <paramref name="port"/>
    /// with its superuser's <paramref name="password"/>), or one with <paramref name="serverOptions"/> of its own
    /// (<c>-c ssl=on ...</c>), or made with <paramref name="initdbOptions"/> of its own (<c>--waldir=...</c>). Dispose it when done.
    /// </summary>
    public static async Task<PostgresServer> StartOwnAsync(int? port = null, string password = Password, string serverOptions = "", IReadOnlyList<string>? initdbOptions = null)
    {
        var server = new PostgresServer { _own = true, _port = port, _password = password, _serverOptions = serverOptions, _initdbOptions = initdbOptions ?? [] };
        try
        {
            await server.InitializeAsync();
        }
        catch
        {
            await server.DisposeAsync(); // a cluster made or started before the failure is not left behind
            throw;
        }
        return server;
    }

    /// <summary><c>pg_ctl {action} -m {mode}</c> (restart, stop) or <c>pg_ctl start</c>, waiting until it is done.</summary>
    public async Task ControlAsync(string action, string? mode = null)
    {
        // A plain start would forget the port and socket directory the cluster was first started with.
        string[] arguments = action is "start" or "restart"
            ? ["-D", _dataDirectory, "-l", Path.Combine(_directory!, "postgres.log"), "-o", _options, "-w", "-t", "60", action]
            : ["-D", _dataDirectory, "-w", "-t", "60", action];
        await Must(RunAsPostgres(PostgresTools.Find("pg_ctl"), mode is null ? arguments : [.. arguments, "-m", mode]));
    }

    /// <summary>Whether the postmaster runs (<c>pg_ctl status</c>): after a PANIC it may have stopped by itself.</summary>
    public async Task<bool> IsRunningAsync() =>
        (await RunAsPostgres(PostgresTools.Find("pg_ctl"), "-D", _dataDirectory, "status")).ExitCode == 0;

    /// <summary>
    /// A synchronous streaming standby of this cluster (one of a test's own), as RDS Multi-AZ keeps: a base backup
    /// (<c>pg_basebackup</c>) started in recovery on a port of its own, and this cluster's <c>synchronous_standby_names</c>
    /// set to it, so a commit is acknowledged only once the standby has it. Returns when the standby is in sync.
    /// Dispose it when done.
    /// </summary>
    public async Task<PostgresServer> StartStandbyAsync(string name = "standby1")
    {
        var standby = new PostgresServer { _own = true, _directory = Path.Combine(Path.GetTempPath(), $"cruddur-test-pg-{Guid.NewGuid():N}") };
        standby._dataDirectory = Path.Combine(standby._directory, "data");
        Directory.CreateDirectory(standby._directory);
        // The replication connection's password comes from a password file, never from a command line.
        var passwordFile = Path.Combine(standby._directory, "pgpass");
        await File.WriteAllTextAsync(passwordFile, $"127.0.0.1:{Port}:*:postgres:{Password.Replace(":", "\\:", StringComparison.Ordinal)}\n");
        await Must(ProcessRunner.RunAsync("chmod", ["600", passwordFile])); // libpq ignores a password file others can read
        if (RunningAsRoot)
        {
            await Must(ProcessRunner.RunAsync("chown", ["-R", "postgres:postgres", standby._directory]));
        }
        var primary = $"host=127.0.0.1 port={Port} user=postgres passfile={passwordFile} application_name={name}";
        // A fast checkpoint to start from: the default spreads it over minutes (checkpoint_completion_target).
        await Must(RunAsPostgres(PostgresTools.Find("pg_basebackup"), "-d", primary, "-D", standby._dataDirectory, "-X", "stream", "--checkpoint=fast", "--no-sync"));
        await File.WriteAllTextAsync(Path.Combine(standby._dataDirectory, "standby.signal"), "");
        await File.AppendAllTextAsync(Path.Combine(standby._dataDirectory, "postgresql.auto.conf"), $"primary_conninfo = '{primary}'\n");

        standby.Port = PortAllocator.Free();
        standby._options = _options.Replace($"-p {Port} -k {_directory}", $"-p {standby.Port} -k {standby._directory}", StringComparison.Ordinal);
        await standby.ControlAsync("start");
        standby.AdminUrl = $"postgresql://postgres:{Uri.EscapeDataString(Password)}@127.0.0.1:{standby.Port}/postgres";

        await using var connection = new NpgsqlConnection(ConnectionUrl.Parse(AdminUrl).ConnectionString);
        await connection.OpenAsync();
        await using (var synchronous = new NpgsqlCommand($"ALTER SYSTEM SET synchronous_standby_names = '{name}'", connection))
        {
            await synchronous.ExecuteNonQueryAsync();
        }
        await using (var reload = new NpgsqlCommand("SELECT pg_reload_conf()", connection))
        {
            await reload.ExecuteNonQueryAsync();
        }
        await using var state = new NpgsqlCommand($"SELECT sync_state FROM pg_stat_replication WHERE application_name = '{name}'", connection);
        await Eventually.ReachesAsync(async () => await state.ExecuteScalarAsync() as string, s => s == "sync", $"the standby {name} in sync (its sync_state)");
        return standby;
    }

    /// <summary>Promotes a standby to a primary (<c>pg_ctl promote</c>), waiting until it accepts writes.</summary>
    public Task PromoteAsync() => Must(RunAsPostgres(PostgresTools.Find("pg_ctl"), "-D", _dataDirectory, "-w", "-t", "60", "promote"));

    /// <summary>
    /// <c>kill -9</c> to the postmaster and every process of the cluster at once, as a host that is lost: no shutdown,
    /// no last WAL flush, no goodbye to the clients.
    /// </summary>
    public async Task KillAsync()
    {
        var postmaster = (await File.ReadAllLinesAsync(Path.Combine(_dataDirectory, "postmaster.pid")))[0].Trim();
        var children = await ProcessRunner.RunAsync("pgrep", ["-P", postmaster]);
        string[] pids = [postmaster, .. children.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
        await Must(ProcessRunner.RunAsync("kill", ["-KILL", .. pids]));
    }

    /// <summary>The end of the server's log (empty for a server this run did not start).</summary>
    public string LogTail(int characters = 4000)
    {
        var path = _directory is null ? null : Path.Combine(_directory, "postgres.log");
        var text = path is not null && File.Exists(path) ? File.ReadAllText(path) : "";
        return text[^Math.Min(text.Length, characters)..];
    }

    /// <summary>A new empty database; returns its URL.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix = "t")
    {
        var name = $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 17, 63)];
        await using var connection = new NpgsqlConnection(ConnectionUrl.Parse(AdminUrl).ConnectionString);
        await connection.OpenAsync();
        // Owned by the migration role: on PostgreSQL 15+ it then owns public too, as bin/db-roles arranges.
        await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"{(HasRoles ? $" OWNER {MigrationRole}" : "")}", connection);
        await create.ExecuteNonQueryAsync();
        return WithDatabase(AdminUrl, name);
    }

    /// <summary>A URL naming a database that does not exist yet (for scripts that create it).</summary>
    public string UrlForNewDatabase(string prefix = "t") => WithDatabase(AdminUrl, $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 17, 63)]);

    /// <summary>The same URL (credentials, query) naming another database.</summary>
    public static string WithDatabase(string url, string database)
    {
        var queryStart = url.IndexOf('?', StringComparison.Ordinal);
        var head = queryStart < 0 ? url : url[..queryStart];
        var authorityStart = head.IndexOf("://", StringComparison.Ordinal) + 3;
        var pathStart = head.IndexOf('/', Math.Max(authorityStart, head.LastIndexOf('@') + 1));
        return $"{(pathStart < 0 ? head : head[..pathStart])}/{database}{(queryStart < 0 ? "" : url[queryStart..])}";
    }

    private static bool RunningAsRoot => Environment.UserName == "root";

    private static Task<ProcessResult> RunAsPostgres(string tool, params string[] arguments) =>
        RunningAsRoot
            ? ProcessRunner.RunAsync("runuser", ["-u", "postgres", "--", tool, .. arguments])
            : ProcessRunner.RunAsync(tool, arguments);

    private static async Task Must(Task<ProcessResult> run)
    {
        var result = await run;
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"Starting the test PostgreSQL failed: {result}");
        }
    }

}

/// <summary>Finds PostgreSQL's server tools on PATH or in Debian's versioned folder.</summary>
public static class PostgresTools
{
    public static string Find(string tool)
    {
        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, tool))
            .FirstOrDefault(File.Exists);
        if (onPath is not null)
        {
            return onPath;
        }
        var debian = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").OrderDescending().Select(d => Path.Combine(d, "bin", tool)).FirstOrDefault(File.Exists)
            : null;
        return debian ?? throw new InvalidOperationException($"{tool} not found: install PostgreSQL (apt-get install -y postgresql).");
    }
}

using Cruddur.Shared.Data;
using Cruddur.Shared.Resilience;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Polly.Registry;

namespace Cruddur.Tests.Fixtures;

/// <summary>
/// A fresh database of its own for one test, with the data layer pointed at it. As in production, the migration role
/// owns the schema (<see cref="MigrationUrl"/>, <see cref="Migrator"/>) and the Api and the Worker run as a runtime role
/// that can only read and write rows (<see cref="Url"/>, <see cref="Db"/>); the test itself sees everything as the
/// superuser (<see cref="DataSource"/>). On a server this run did not start (<c>TEST_CONNECTION_URL</c>) all three
/// are the one URL given.
/// </summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private readonly NpgsqlDataSource _migration;
    private readonly NpgsqlDataSource _runtime;

    private TestDatabase(string adminUrl, bool roles)
    {
        Url = roles ? WithUser(adminUrl, PostgresServer.RuntimeRole) : adminUrl;
        MigrationUrl = MigrationUrlFor(Url);
        DataSource = NpgsqlDataSource.Create(ConnectionUrl.Parse(adminUrl).ConnectionString);
        _migration = NpgsqlDataSource.Create(ConnectionUrl.Parse(MigrationUrl).ConnectionString);
        _runtime = NpgsqlDataSource.Create(ConnectionUrl.Parse(Url).ConnectionString);
        var reads = new NpgsqlConnectionStringBuilder(ConnectionUrl.Parse(Url).ConnectionString);
        DataServiceCollectionExtensions.ConfigureForReads(reads);
        Reads = NpgsqlDataSource.Create(reads.ConnectionString);
        Db = new Db(_runtime, new SqlTemplates(), Reads);
    }

    /// <summary>The runtime role's URL: the Api's and the Worker's <c>CONNECTION_URL</c>.</summary>
    public string Url { get; }

    /// <summary>The migration role's URL: the Worker's <c>MIGRATION_CONNECTION_URL</c>.</summary>
    public string MigrationUrl { get; }

    /// <summary>The superuser's view of the database, for a test's own setup and checks.</summary>
    public NpgsqlDataSource DataSource { get; }

    /// <summary>The read pool, configured as the Api's (<see cref="DataServiceCollectionExtensions.ConfigureForReads"/>).</summary>
    public NpgsqlDataSource Reads { get; }

    public Db Db { get; }

    /// <summary>The migrator as the Worker runs it: as the migration role.</summary>
    public DatabaseMigrator Migrator() => new(_migration, Pipelines, NullLogger<DatabaseMigrator>.Instance);

    /// <summary>
    /// The migration role's URL beside a runtime role's (same server, port, database and password), or the URL itself
    /// when it is not the runtime role's: fixtures that start a Worker from a test's <see cref="Url"/> hand it this as
    /// <c>MIGRATION_CONNECTION_URL</c>, as an operator does.
    /// </summary>
    public static string MigrationUrlFor(string runtimeUrl)
    {
        ArgumentNullException.ThrowIfNull(runtimeUrl);
        var prefix = $"://{PostgresServer.RuntimeRole}:";
        return runtimeUrl.Contains(prefix, StringComparison.Ordinal)
            ? runtimeUrl.Replace(prefix, $"://{PostgresServer.MigrationRole}:", StringComparison.Ordinal)
            : runtimeUrl;
    }

    private static string WithUser(string url, string user)
    {
        var start = url.IndexOf("://", StringComparison.Ordinal) + 3;
        return string.Concat(url.AsSpan(0, start), user, url.AsSpan(url.IndexOf(':', start)));
    }

    /// <summary>The database's retry pipelines, as a process registers them.</summary>
    private static ResiliencePipelineProvider<string> Pipelines { get; } = new ServiceCollection().AddLogging().AddDatabaseResilience()
        .BuildServiceProvider().GetRequiredService<ResiliencePipelineProvider<string>>();

    /// <summary>A database that exists already (on a standby promoted in its server's place, say), seen through <paramref name="url"/> alone.</summary>
    public static TestDatabase Open(string url) => new(url, roles: false);

    /// <summary>A new database, migrated (and seeded) unless asked otherwise.</summary>
    public static async Task<TestDatabase> CreateAsync(PostgresServer server, bool migrate = true, bool seed = false)
    {
        var database = new TestDatabase(await server.CreateDatabaseAsync(), server.HasRoles);
        if (server.HasRoles)
        {
            // A table a test makes as the superuser (a probe, a trigger's log) is the runtime and migration roles' to
            // use, as every table of ours is (db/grants.sql, and the migrator owns them).
            await database.ExecuteAsync(
                $"ALTER DEFAULT PRIVILEGES FOR ROLE postgres GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO cruddur_runtime, {PostgresServer.MigrationRole}");
        }
        if (migrate)
        {
            await database.Migrator().MigrateAsync(seed);
        }
        return database;
    }

    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var command = DataSource.CreateCommand(sql);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Runs a statement and returns the rows it changed.</summary>
    public async Task<int> ExecuteAsync(string sql)
    {
        await using var command = DataSource.CreateCommand(sql);
        return await command.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Reads.DisposeAsync();
        await _runtime.DisposeAsync();
        await _migration.DisposeAsync();
        await DataSource.DisposeAsync();
    }
}

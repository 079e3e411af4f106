using Cruddur.Shared.Data;
using Cruddur.Shared.Resilience;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Polly.Registry;

namespace Cruddur.Tests.Fixtures;

/// <summary>A fresh database of its own for one test, with the data layer pointed at it.</summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private TestDatabase(string url)
    {
        Url = url;
        DataSource = NpgsqlDataSource.Create(ConnectionUrl.Parse(url).ConnectionString);
        var reads = new NpgsqlConnectionStringBuilder(ConnectionUrl.Parse(url).ConnectionString);
        DataServiceCollectionExtensions.ConfigureForReads(reads);
        Reads = NpgsqlDataSource.Create(reads.ConnectionString);
        Db = new Db(DataSource, new SqlTemplates(), Reads);
    }

    public string Url { get; }

    public NpgsqlDataSource DataSource { get; }

    /// <summary>The read pool, configured as the Api's (<see cref="DataServiceCollectionExtensions.ConfigureForReads"/>).</summary>
    public NpgsqlDataSource Reads { get; }

    public Db Db { get; }

    public DatabaseMigrator Migrator() => new(DataSource, Pipelines, NullLogger<DatabaseMigrator>.Instance);

    /// <summary>The database's retry pipelines, as a process registers them.</summary>
    private static ResiliencePipelineProvider<string> Pipelines { get; } = new ServiceCollection().AddLogging().AddDatabaseResilience()
        .BuildServiceProvider().GetRequiredService<ResiliencePipelineProvider<string>>();

    /// <summary>A database that exists already (on a standby promoted in its server's place, say).</summary>
    public static TestDatabase Open(string url) => new(url);

    /// <summary>A new database, migrated (and seeded) unless asked otherwise.</summary>
    public static async Task<TestDatabase> CreateAsync(PostgresServer server, bool migrate = true, bool seed = false)
    {
        var database = new TestDatabase(await server.CreateDatabaseAsync());
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
        await DataSource.DisposeAsync();
    }
}

using Cruddur.Shared.Data;
using Cruddur.Shared.Jobs;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Cruddur.Tests.Fixtures;

/// <summary>Reads Hangfire's tables directly, as an operator would in psql.</summary>
public static class HangfireJobs
{
    public sealed record JobState(string? State, string? Reason);

    /// <summary>Hangfire.PostgreSql's own storage, as an older Api or Worker had it, on the test's database.</summary>
    public static PostgreSqlStorage LibraryStorage(TestDatabase db) => new(
        new NpgsqlConnectionFactory(ConnectionUrl.Parse(db.Url).ConnectionString, new PostgreSqlStorageOptions()),
        JobStorageServiceCollectionExtensions.StorageOptions(new ConfigurationBuilder().Build()));

    /// <summary>The Api's registration on the test's database: a client of the job storage (Cruddur's), no server.</summary>
    public static ServiceProvider AsTheApi(TestDatabase db)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["CONNECTION_URL"] = db.Url }).Build();
        var services = new ServiceCollection().AddLogging();
        services.AddCruddurData(configuration).AddCruddurJobStorage(configuration);
        return services.BuildServiceProvider();
    }

    public static async Task<JobState> StateAsync(NpgsqlDataSource db, string jobId)
    {
        await using var command = db.CreateCommand("""
            SELECT j.statename, s.reason
            FROM hangfire.job j LEFT JOIN hangfire.state s ON s.id = j.stateid
            WHERE j.id = @id
            """);
        command.Parameters.AddWithValue("id", long.Parse(jobId, System.Globalization.CultureInfo.InvariantCulture));
        await using var reader = await command.ExecuteReaderAsync();
        return await reader.ReadAsync()
            ? new JobState(reader.IsDBNull(0) ? null : reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1))
            : new JobState(null, null);
    }

    /// <summary>Waits until the job is in a final state (Succeeded, Failed, Deleted); fails the test if it never gets there.</summary>
    public static Task<JobState> WaitForFinalStateAsync(NpgsqlDataSource db, string jobId, TimeSpan? timeout = null) =>
        Eventually.ReachesAsync(() => StateAsync(db, jobId), state => state.State is "Succeeded" or "Failed" or "Deleted", $"job {jobId} in a final state", timeout);

    /// <summary>The states the job went through, oldest first.</summary>
    public static async Task<List<JobState>> StatesAsync(NpgsqlDataSource db, string jobId)
    {
        await using var command = db.CreateCommand("SELECT name, reason FROM hangfire.state WHERE jobid = @id ORDER BY id");
        command.Parameters.AddWithValue("id", long.Parse(jobId, System.Globalization.CultureInfo.InvariantCulture));
        var states = new List<JobState>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            states.Add(new JobState(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1)));
        }
        return states;
    }

    public static async Task<string?> ParameterAsync(NpgsqlDataSource db, string jobId, string name)
    {
        await using var command = db.CreateCommand("SELECT value FROM hangfire.jobparameter WHERE jobid = @id AND name = @name");
        command.Parameters.AddWithValue("id", long.Parse(jobId, System.Globalization.CultureInfo.InvariantCulture));
        command.Parameters.AddWithValue("name", name);
        return await command.ExecuteScalarAsync() as string;
    }

    /// <summary>How many state changes the job went through to a given state (a retried job fails more than once).</summary>
    public static async Task<long> CountStatesAsync(NpgsqlDataSource db, string jobId, string state)
    {
        await using var command = db.CreateCommand("SELECT count(*) FROM hangfire.state WHERE jobid = @id AND name = @state");
        command.Parameters.AddWithValue("id", long.Parse(jobId, System.Globalization.CultureInfo.InvariantCulture));
        command.Parameters.AddWithValue("state", state);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}

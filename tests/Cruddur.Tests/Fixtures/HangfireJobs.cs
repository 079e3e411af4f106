using Npgsql;

namespace Cruddur.Tests.Fixtures;

/// <summary>Reads Hangfire's tables directly, as an operator would in psql.</summary>
public static class HangfireJobs
{
    public sealed record JobState(string? State, string? Reason);

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

    /// <summary>Waits until the job is in a final state (Succeeded, Failed, Deleted) or <paramref name="timeout"/> passes.</summary>
    public static async Task<JobState> WaitForFinalStateAsync(NpgsqlDataSource db, string jobId, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            var state = await StateAsync(db, jobId);
            if (state.State is "Succeeded" or "Failed" or "Deleted" || DateTime.UtcNow > deadline)
            {
                return state;
            }
            await Task.Delay(50);
        }
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

using Cruddur.Shared.Activities;
using Cruddur.Shared.Data;
using Cruddur.Shared.Resilience;
using Polly;
using Polly.Registry;

namespace Cruddur.Worker.Activities;

/// <summary>Stores activities in Postgres (the Worker's side; the Api reads them with its ActivityReader).</summary>
public sealed class ActivityStore(Db db, ResiliencePipelineProvider<string> pipelines)
{
    private readonly ResiliencePipeline _writes = pipelines.GetPipeline(Retries.DatabaseWrite);

    /// <summary>
    /// Stores a batch of activities with one statement (<c>create_batch.sql</c>) in one transaction, skipping
    /// any whose uuid is stored already (a retried job stores each once). Transient errors are retried.
    /// An activity whose handle matches no user is not stored: it comes back in
    /// <see cref="ActivityBatchResult.UnknownHandles"/>, for the caller to fail on its own.
    /// </summary>
    public async Task<ActivityBatchResult> CreateBatchAsync(IReadOnlyList<CreateActivityJob> activities, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(activities);
        if (activities.Count == 0)
        {
            return new ActivityBatchResult(0, []);
        }
        var sql = db.Template("activities", "create_batch");
        var parameters = new SqlParameters
        {
            ["uuids"] = activities.Select(a => a.Uuid).ToArray(),
            ["handles"] = activities.Select(a => a.Handle).ToArray(),
            ["messages"] = activities.Select(a => a.Message).ToArray(),
            // timestamptz takes UTC offsets only.
            ["expires_at"] = activities.Select(a => a.ExpiresAt.ToUniversalTime()).ToArray(),
            ["created_at"] = activities.Select(a => a.CreatedAt.ToUniversalTime()).ToArray(),
        };
        var outcomes = await _writes.ExecuteAsync(
            async token => await db.QueryCommitRowsAsync(sql, parameters, row => (Uuid: row.GetGuid(0), Outcome: row.GetString(1)), token),
            cancellationToken);
        var unknown = outcomes.Where(o => o.Outcome == "unknown_handle").Select(o => o.Uuid).ToHashSet();
        return new ActivityBatchResult(
            outcomes.Count - unknown.Count,
            [.. activities.Where(a => unknown.Remove(a.Uuid))]); // Remove: a uuid sent twice comes back once
    }
}

/// <summary>What <see cref="ActivityStore.CreateBatchAsync"/> did: how many rows it inserted, and the activities it could not store because no user has their handle.</summary>
public sealed record ActivityBatchResult(int Stored, IReadOnlyList<CreateActivityJob> UnknownHandles);

/// <summary>No user has this handle: a post for it cannot be stored, however often it is retried.</summary>
public sealed class UnknownHandleException(string handle)
    : Exception($"No user has the handle '{handle}' (it may have been removed after the post was accepted).")
{
    public string Handle { get; } = handle;
}

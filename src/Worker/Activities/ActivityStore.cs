using Cruddur.Shared.Activities;
using Cruddur.Shared.Data;
using Cruddur.Shared.Resilience;
using Npgsql;
using Polly;
using Polly.Registry;

namespace Cruddur.Worker.Activities;

/// <summary>Stores activities in Postgres (the Worker's side; the Api reads them with its ActivityReader).</summary>
public sealed class ActivityStore(Db db, ResiliencePipelineProvider<string> pipelines)
{
    /// <summary>The foreign key of <c>activities.user_uuid</c> on <c>users</c>.</summary>
    public const string AuthorForeignKey = "activities_user_uuid_fkey";

    private readonly ResiliencePipeline _writes = pipelines.GetPipeline(Retries.DatabaseWrite);

    /// <summary>
    /// Stores a batch of activities with one statement (<c>create_batch.sql</c>) in one transaction, under the author the
    /// Api resolved (<see cref="CreateActivityJob.UserUuid"/>), skipping any whose uuid is stored already (a retried job
    /// stores each once). Transient errors are retried. An activity whose author is not in <c>users</c> is not stored: it
    /// comes back in <see cref="ActivityBatchResult.UnknownAuthors"/>, for the caller to fail on its own.
    /// </summary>
    public async Task<ActivityBatchResult> CreateBatchAsync(IReadOnlyList<CreateActivityJob> activities, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(activities);
        if (activities.Count == 0)
        {
            return new ActivityBatchResult(0, []);
        }
        var authors = await AuthorsAsync(activities, cancellationToken);
        var sql = db.Template("activities", "create_batch");
        var parameters = new SqlParameters
        {
            ["uuids"] = activities.Select(a => a.Uuid).ToArray(),
            ["user_uuids"] = authors,
            ["messages"] = activities.Select(a => a.Message).ToArray(),
            // timestamptz takes UTC offsets only.
            ["expires_at"] = activities.Select(a => a.ExpiresAt.ToUniversalTime()).ToArray(),
            ["created_at"] = activities.Select(a => a.CreatedAt.ToUniversalTime()).ToArray(),
        };
        Task<List<(Guid Uuid, string Outcome)>> StoreAsync() => _writes.ExecuteAsync(
            async token => await db.QueryCommitRowsAsync(sql, parameters, row => (Uuid: row.GetGuid(0), Outcome: row.GetString(1)), token),
            cancellationToken).AsTask();
        List<(Guid Uuid, string Outcome)> outcomes;
        try
        {
            outcomes = await StoreAsync();
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ForeignKeyViolation && e.ConstraintName == AuthorForeignKey)
        {
            // An author deleted after the statement's snapshot found them, before its insert: once more, the new snapshot
            // reports that author's posts unknown, and the rest of the batch is stored (else every post of it failed for good).
            outcomes = await StoreAsync();
        }
        var unknown = outcomes.Where(o => o.Outcome == "unknown_user").Select(o => o.Uuid).ToHashSet();
        return new ActivityBatchResult(
            outcomes.Count - unknown.Count,
            [.. activities.Where(a => unknown.Remove(a.Uuid))]); // Remove: a uuid sent twice comes back once
    }

    // Each activity's author. A job queued before the contract carried the author's uuid names the handle only: those
    // handles are looked up once, together (an unknown one stays null and fails alone).
    private async Task<Guid?[]> AuthorsAsync(IReadOnlyList<CreateActivityJob> activities, CancellationToken cancellationToken)
    {
        var authors = activities.Select(a => a.UserUuid).ToArray();
        if (Array.IndexOf(authors, null) < 0)
        {
            return authors;
        }
        var handles = activities.Where(a => a.UserUuid is null).Select(a => a.Handle).Distinct(StringComparer.Ordinal).ToArray();
        var found = (await _writes.ExecuteAsync(
            async token => await db.QueryCommitRowsAsync(db.Template("users", "uuids_by_handle"), new SqlParameters { ["handles"] = handles },
                row => (Handle: row.GetString(0), Uuid: row.GetGuid(1)), token),
            cancellationToken)).ToDictionary(u => u.Handle, u => u.Uuid, StringComparer.Ordinal);
        for (var i = 0; i < authors.Length; i++)
        {
            authors[i] ??= found.TryGetValue(activities[i].Handle, out var uuid) ? uuid : null;
        }
        return authors;
    }
}

/// <summary>What <see cref="ActivityStore.CreateBatchAsync"/> did: how many rows it inserted, and the activities it could not store because their author is not in <c>users</c>.</summary>
public sealed record ActivityBatchResult(int Stored, IReadOnlyList<CreateActivityJob> UnknownAuthors);

/// <summary>The post's author is not in <c>users</c>: it cannot be stored, however often it is retried.</summary>
public sealed class UnknownAuthorException(CreateActivityJob post)
    : Exception(post.UserUuid is { } uuid
        ? $"No user has the uuid {uuid} (@{post.Handle}; the user was removed after the post was accepted)."
        : $"No user has the handle '{post.Handle}' (it may have been removed after the post was accepted).")
{
    public string Handle { get; } = post.Handle;
}

using System.Text.Json;
using Cruddur.Shared.Data;
using Cruddur.Shared.Resilience;
using Npgsql;
using Polly;
using Polly.Registry;

namespace Cruddur.Shared.Activities;

/// <summary>Activities in Postgres: the seed's create, object and home templates.</summary>
public sealed class ActivityStore(Db db, ResiliencePipelineProvider<string> pipelines)
{
    private readonly ResiliencePipeline _writes = pipelines.GetPipeline(DatabaseResilience.Writes);

    /// <summary>
    /// Stores the activity unless a row with its uuid exists (a retried or duplicated job stores it once).
    /// Transient errors are retried; returns false when it was already stored.
    /// </summary>
    /// <exception cref="UnknownHandleException">No user has the activity's handle.</exception>
    public async Task<bool> CreateAsync(CreateActivityJob activity, CancellationToken cancellationToken)
    {
        var sql = db.Template("activities", "create");
        var parameters = new SqlParameters
        {
            ["uuid"] = activity.Uuid,
            ["handle"] = activity.Handle,
            ["message"] = activity.Message,
            ["expires_at"] = activity.ExpiresAt,
            ["created_at"] = activity.CreatedAt,
        };
        try
        {
            var stored = await _writes.ExecuteAsync(
                async token => await db.QueryCommitAsync<Guid?>(sql, parameters, token), cancellationToken);
            return stored is not null;
        }
        catch (PostgresException e) when (e is { SqlState: PostgresErrorCodes.NotNullViolation, ColumnName: "user_uuid" })
        {
            throw new UnknownHandleException(activity.Handle, e);
        }
    }

    /// <summary>
    /// One page of the home feed, newest first, expired activities left out, as the JSON array Postgres
    /// builds (the shape of <c>home.sql</c>), and the cursor of the next page when this one is full.
    /// </summary>
    public async Task<(string Json, FeedCursor? Next)> HomeJsonAsync(int limit, FeedCursor? before, CancellationToken cancellationToken)
    {
        var json = await db.QueryArrayJsonAsync(db.Template("activities", "home"), new SqlParameters
        {
            ["limit"] = limit,
            ["before_created_at"] = before?.CreatedAt,
            ["before_uuid"] = before?.Uuid,
        }, cancellationToken);
        using var page = JsonDocument.Parse(json);
        var rows = page.RootElement;
        if (rows.GetArrayLength() < limit)
        {
            return (json, null);
        }
        var last = rows[rows.GetArrayLength() - 1];
        return (json, new FeedCursor(last.GetProperty("created_at").GetDateTimeOffset(), last.GetProperty("uuid").GetGuid()));
    }

    /// <summary>The activity as JSON (the shape of <c>object.sql</c>), or null while it is not stored.</summary>
    public Task<string?> ObjectJsonAsync(Guid uuid, CancellationToken cancellationToken) =>
        db.QueryObjectJsonAsync(db.Template("activities", "object"), new SqlParameters { ["uuid"] = uuid }, cancellationToken);
}

/// <summary>No user has this handle: a post for it cannot be stored, however often it is retried.</summary>
public sealed class UnknownHandleException(string handle, Exception? innerException = null)
    : Exception($"No user has the handle '{handle}' (it may have been removed after the post was accepted).", innerException)
{
    public string Handle { get; } = handle;
}

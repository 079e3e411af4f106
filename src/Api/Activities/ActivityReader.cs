using Cruddur.Shared.Data;

namespace Cruddur.Api.Activities;

/// <summary>Reads activities from Postgres for the Api: the seed's home and object templates (the Worker stores them).</summary>
public sealed class ActivityReader(Db db)
{
    /// <summary>
    /// One page of the home feed, newest first, expired activities left out, as the JSON array Postgres
    /// builds (the shape of <c>home.sql</c>), and the cursor of the next page when this one is full.
    /// </summary>
    public async Task<(string Json, FeedCursor? Next)> HomeJsonAsync(int limit, FeedCursor? before, CancellationToken cancellationToken)
    {
        // Postgres returns the last row's key beside the JSON, so the cursor costs no parsing here.
        var page = await db.QueryPageJsonAsync(db.Template("activities", "home"), new SqlParameters
        {
            ["limit"] = limit,
            ["before_created_at"] = before?.CreatedAt,
            ["before_uuid"] = before?.Uuid,
        }, cancellationToken);
        return page.Count < limit
            ? (page.Json, null)
            : (page.Json, new FeedCursor(page.LastCreatedAt!.Value, page.LastUuid!.Value));
    }

    /// <summary>The activity as JSON (the shape of <c>object.sql</c>), or null while it is not stored and once it has expired.</summary>
    public Task<string?> ObjectJsonAsync(Guid uuid, CancellationToken cancellationToken) =>
        db.QueryObjectJsonAsync(db.Template("activities", "object"), new SqlParameters { ["uuid"] = uuid }, cancellationToken);
}

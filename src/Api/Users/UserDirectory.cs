using System.Collections.Concurrent;
using Cruddur.Shared.Data;

namespace Cruddur.Api.Users;

/// <summary>A user as a post shows them.</summary>
public sealed record UserSummary(Guid Uuid, string Handle, string DisplayName);

/// <summary>
/// Finds users by handle (the seed's <c>users/object.sql</c>) or by the sub of their Cognito access token, for
/// validating and displaying posts. Users found are remembered for <see cref="CacheTtl"/>, so a busy poster costs
/// no round trip per post. "Unknown" is never remembered: a new sign-up can post at once. A user deleted within
/// the TTL is caught by the Worker, whose batch insert splits that post out into a job that fails with the reason.
/// </summary>
public sealed class UserDirectory(Db db, TimeProvider clock, TimeSpan? cacheTtl = null)
{
    /// <summary>Bounds each cache's memory: past this many users it starts over.</summary>
    public const int MaxCachedUsers = 100_000;

    private readonly ConcurrentDictionary<string, (UserSummary User, long ExpiresAt)> _byHandle = new(StringComparer.Ordinal);

    private readonly ConcurrentDictionary<string, (UserSummary User, long ExpiresAt)> _byCognitoUserId = new(StringComparer.Ordinal);

    /// <summary>How long a user found stays remembered; zero turns the cache off.</summary>
    public TimeSpan CacheTtl { get; } = cacheTtl ?? TimeSpan.FromSeconds(5);

    public Task<UserSummary?> FindByHandleAsync(string handle, CancellationToken cancellationToken) =>
        FindAsync(_byHandle, "object", "handle", handle, cancellationToken);

    /// <summary>The user whose <c>cognito_user_id</c> is <paramref name="cognitoUserId"/> (an access token's <c>sub</c>).</summary>
    public Task<UserSummary?> FindByCognitoUserIdAsync(string cognitoUserId, CancellationToken cancellationToken) =>
        FindAsync(_byCognitoUserId, "object_by_cognito_user_id", "cognito_user_id", cognitoUserId, cancellationToken);

    /// <summary>
    /// The handle a signed-in user's sign-up asked for when it could not be stored because another user holds it, or
    /// null when their sign-up has not failed (it is on its way). Never cached: an operator's fix shows at once.
    /// </summary>
    public Task<string?> FailedSignUpHandleAsync(string cognitoUserId, CancellationToken cancellationToken) =>
        db.QueryRowAsync(db.Template("users", "sign_up_failure"), new SqlParameters { ["cognito_user_id"] = cognitoUserId },
            row => row.GetString(row.GetOrdinal("handle")), cancellationToken);

    private async Task<UserSummary?> FindAsync(
        ConcurrentDictionary<string, (UserSummary User, long ExpiresAt)> found, string template, string parameter, string key, CancellationToken cancellationToken)
    {
        var now = clock.GetTimestamp();
        if (found.TryGetValue(key, out var cached) && now < cached.ExpiresAt)
        {
            return cached.User;
        }
        var user = await LoadAsync(template, parameter, key, cancellationToken);
        if (user is null)
        {
            found.TryRemove(key, out _);
            return null;
        }
        if (CacheTtl > TimeSpan.Zero)
        {
            if (found.Count >= MaxCachedUsers)
            {
                found.Clear();
            }
            found[key] = (user, now + (long)(CacheTtl.TotalSeconds * clock.TimestampFrequency));
        }
        return user;
    }

    private Task<UserSummary?> LoadAsync(string template, string parameter, string key, CancellationToken cancellationToken) =>
        db.QueryRowAsync(db.Template("users", template), new SqlParameters { [parameter] = key },
            row => new UserSummary(row.GetGuid(row.GetOrdinal("uuid")), row.GetString(row.GetOrdinal("handle")), row.GetString(row.GetOrdinal("display_name"))),
            cancellationToken);
}

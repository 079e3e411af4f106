using System.Collections.Concurrent;
using System.Text.Json;
using Cruddur.Shared.Data;

namespace Cruddur.Shared.Users;

/// <summary>A user as a post shows them.</summary>
public sealed record UserSummary(Guid Uuid, string Handle, string DisplayName);

/// <summary>
/// Finds users by handle (the seed's <c>users/object.sql</c>), for validating and displaying posts. Users found
/// are remembered for <see cref="CacheTtl"/>, so a busy poster costs no round trip per post. "Unknown" is never
/// remembered: a new sign-up can post at once. A user deleted within the TTL is caught by the Worker, whose
/// batch insert splits that post out into a job that fails with the reason.
/// </summary>
public sealed class UserDirectory(Db db, TimeProvider clock, TimeSpan? cacheTtl = null)
{
    /// <summary>Bounds the cache's memory: past this many handles it starts over.</summary>
    public const int MaxCachedHandles = 100_000;

    private readonly ConcurrentDictionary<string, (UserSummary User, long ExpiresAt)> _found = new(StringComparer.Ordinal);

    /// <summary>How long a user found stays remembered; zero turns the cache off.</summary>
    public TimeSpan CacheTtl { get; } = cacheTtl ?? TimeSpan.FromSeconds(5);

    public async Task<UserSummary?> FindByHandleAsync(string handle, CancellationToken cancellationToken)
    {
        var now = clock.GetTimestamp();
        if (_found.TryGetValue(handle, out var cached) && now < cached.ExpiresAt)
        {
            return cached.User;
        }
        var user = await LoadAsync(handle, cancellationToken);
        if (user is null)
        {
            _found.TryRemove(handle, out _);
            return null;
        }
        if (CacheTtl > TimeSpan.Zero)
        {
            if (_found.Count >= MaxCachedHandles)
            {
                _found.Clear();
            }
            _found[handle] = (user, now + (long)(CacheTtl.TotalSeconds * clock.TimestampFrequency));
        }
        return user;
    }

    private async Task<UserSummary?> LoadAsync(string handle, CancellationToken cancellationToken)
    {
        var json = await db.QueryObjectJsonAsync(db.Template("users", "object"), new SqlParameters { ["handle"] = handle }, cancellationToken);
        if (json is null)
        {
            return null;
        }
        using var user = JsonDocument.Parse(json);
        var root = user.RootElement;
        return new UserSummary(root.GetProperty("uuid").GetGuid(), root.GetProperty("handle").GetString()!, root.GetProperty("display_name").GetString()!);
    }
}

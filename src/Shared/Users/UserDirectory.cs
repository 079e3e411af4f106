using System.Text.Json;
using Cruddur.Shared.Data;

namespace Cruddur.Shared.Users;

/// <summary>A user as a post shows them.</summary>
public sealed record UserSummary(Guid Uuid, string Handle, string DisplayName);

/// <summary>Finds users by handle (the seed's <c>users/object.sql</c>), for validating and displaying posts.</summary>
public sealed class UserDirectory(Db db)
{
    public async Task<UserSummary?> FindByHandleAsync(string handle, CancellationToken cancellationToken)
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

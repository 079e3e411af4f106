using Cruddur.Api.Users;

namespace Cruddur.Api.Authentication;

/// <summary>
/// Who a signed-in request posts as: the users row whose <c>cognito_user_id</c> is the access token's <c>sub</c>.
/// Looked up once per request (the idempotency filter and the handler both ask).
/// </summary>
public static class SignedInUser
{
    public const string SubClaim = "sub";

    private const string Item = "cruddur.signed-in-user";

    /// <summary>The token's <c>sub</c>, or null when the request is not authenticated (authentication is off).</summary>
    public static string? CognitoUserId(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        return http.User.Identity?.IsAuthenticated == true ? http.User.FindFirst(SubClaim)?.Value : null;
    }

    /// <summary>The signed-in user's row, or null while their sign-up is still on its way to the users table.</summary>
    public static async Task<UserSummary?> FindAsync(HttpContext http, UserDirectory users, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(users);
        if (http.Items.TryGetValue(Item, out var found))
        {
            return (UserSummary?)found;
        }
        var sub = CognitoUserId(http) ?? throw new InvalidOperationException("The request is not signed in.");
        var user = await users.FindByCognitoUserIdAsync(sub, cancellationToken);
        http.Items[Item] = user;
        return user;
    }
}

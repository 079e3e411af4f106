namespace Cruddur.Api.Authentication;

/// <summary>
/// Who a signed-in request posts as: the access token's <c>sub</c>, which is <c>users.cognito_user_id</c>
/// (<see cref="Activities.PostActivityHandler"/> finds the user, once per post).
/// </summary>
public static class SignedInUser
{
    public const string SubClaim = "sub";

    /// <summary>The token's <c>sub</c>, or null when the request is not authenticated (authentication is off).</summary>
    public static string? CognitoUserId(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        return http.User.Identity?.IsAuthenticated == true ? http.User.FindFirst(SubClaim)?.Value : null;
    }
}

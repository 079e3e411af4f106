using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Hangfire.Dashboard;

namespace Cruddur.Api.Dashboard;

/// <summary>
/// HTTP basic authentication for the Hangfire dashboard, from <c>HANGFIRE_DASHBOARD_USER</c> and
/// <c>HANGFIRE_DASHBOARD_PASSWORD</c>. Credentials are compared in constant time (as SHA-256 digests, so
/// their lengths do not leak either); a refusal carries the challenge a browser needs to ask for them.
/// </summary>
internal sealed class BasicAuthenticationFilter(string user, string password) : IDashboardAuthorizationFilter
{
    private readonly byte[] _expected = Digest($"{user}:{password}");

    public bool Authorize(DashboardContext context)
    {
        var http = context.GetHttpContext();
        if (AuthenticationHeaderValue.TryParse(http.Request.Headers.Authorization, out var header)
            && header.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase)
            && header.Parameter is { } parameter
            && Decode(parameter) is { } credentials
            && CryptographicOperations.FixedTimeEquals(Digest(credentials), _expected))
        {
            return true;
        }
        http.Response.Headers.WWWAuthenticate = "Basic realm=\"Cruddur jobs\", charset=\"UTF-8\"";
        return false;
    }

    private static string? Decode(string parameter)
    {
        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(parameter));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static byte[] Digest(string text) => SHA256.HashData(Encoding.UTF8.GetBytes(text));
}

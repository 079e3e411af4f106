using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Hangfire.Dashboard;

namespace Cruddur.Api.Dashboard;

/// <summary>
/// HTTP basic authentication for the Hangfire dashboard: the operator's credentials (<c>HANGFIRE_DASHBOARD_USER</c>,
/// <c>_PASSWORD</c>) and, when set, a viewer's (<c>HANGFIRE_DASHBOARD_VIEWER_USER</c>, <c>_PASSWORD</c>), whose requests
/// <see cref="IsViewer"/> marks read-only. Credentials are compared in constant time (as SHA-256 digests, so their
/// lengths do not leak either); a refusal carries the challenge a browser needs to ask for them.
/// </summary>
internal sealed class BasicAuthenticationFilter(string user, string password, string? viewer = null, string? viewerPassword = null)
    : IDashboardAuthorizationFilter
{
    private const string ViewerItem = "Cruddur.Dashboard.Viewer";
    private readonly byte[] _operator = Digest($"{user}:{password}");
    private readonly byte[]? _viewer = string.IsNullOrEmpty(viewer) ? null : Digest($"{viewer}:{viewerPassword}");

    /// <summary>True for a request the viewer's credentials let in.</summary>
    public static bool IsViewer(DashboardContext context) => context.GetHttpContext().Items.ContainsKey(ViewerItem);

    public bool Authorize(DashboardContext context)
    {
        var http = context.GetHttpContext();
        if (AuthenticationHeaderValue.TryParse(http.Request.Headers.Authorization, out var header)
            && header.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase)
            && header.Parameter is { } parameter
            && Decode(parameter) is { } credentials)
        {
            var digest = Digest(credentials);
            if (CryptographicOperations.FixedTimeEquals(digest, _operator))
            {
                return true;
            }
            if (_viewer is not null && CryptographicOperations.FixedTimeEquals(digest, _viewer))
            {
                http.Items[ViewerItem] = true;
                return true;
            }
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

using System.Net;
using Npgsql;

namespace Cruddur.Shared.Data;

/// <summary>
/// Turns the seed's <c>postgresql://user:pass@host:port/db?sslmode=...</c> URLs into Npgsql settings.
/// </summary>
public static partial class ConnectionUrl
{
    /// <summary>
    /// Parses a <c>postgresql://</c> (or <c>postgres://</c>) URL. User and password may be percent-encoded.
    /// A host that is not this machine gets <c>sslmode=require</c> unless the URL says otherwise.
    /// </summary>
    /// <exception cref="FormatException">The URL is malformed; the message never contains the password.</exception>
    public static NpgsqlConnectionStringBuilder Parse(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!Uri.TryCreate(url.Trim(), UriKind.Absolute, out var uri) || uri.Scheme is not ("postgresql" or "postgres"))
        {
            throw new FormatException($"'{Redact(url)}' is not a postgresql://user:password@host:port/database URL (user and password percent-encoded).");
        }
        if (string.IsNullOrEmpty(uri.Host))
        {
            throw new FormatException($"'{Redact(url)}' names no host.");
        }

        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = uri.HostNameType == UriHostNameType.IPv6 ? uri.Host.Trim('[', ']') : uri.Host,
            Port = uri.IsDefaultPort || uri.Port < 0 ? 5432 : uri.Port,
        };

        var userInfo = uri.UserInfo;
        if (userInfo.Length > 0)
        {
            var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
            builder.Username = Uri.UnescapeDataString(colon < 0 ? userInfo : userInfo[..colon]);
            if (colon >= 0)
            {
                builder.Password = Uri.UnescapeDataString(userInfo[(colon + 1)..]);
            }
        }

        var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (database.Length > 0)
        {
            builder.Database = database;
        }

        var sslModeGiven = false;
        foreach (var (key, value) in QueryPairs(uri.Query))
        {
            switch (key)
            {
                case "sslmode":
                    builder.SslMode = ParseSslMode(value, url);
                    sslModeGiven = true;
                    break;
                case "sslrootcert":
                    builder.RootCertificate = value;
                    break;
                case "application_name":
                    builder.ApplicationName = value;
                    break;
                case "password" or "passfile":
                    throw new FormatException($"'{Redact(url)}' has its password in the query: put it in the user info (postgresql://user:password@host/db, percent-encoded).");
                case "connect_timeout":
                    builder.Timeout = int.TryParse(value, out var seconds) && seconds >= 0
                        ? seconds
                        : throw new FormatException($"connect_timeout '{value}' in '{Redact(url)}' is not a number of seconds.");
                    break;
                default:
                    throw new FormatException($"'{Redact(url)}' has the parameter '{key}', which Cruddur does not understand (known: sslmode, sslrootcert, application_name, connect_timeout).");
            }
        }

        // Production data crosses a network: encrypt unless the URL explicitly chooses otherwise.
        if (!sslModeGiven && !IsLocal(builder.Host!))
        {
            builder.SslMode = SslMode.Require;
        }
        return builder;
    }

    /// <summary>The URL with its password replaced by <c>***</c>, safe for logs and error messages.</summary>
    public static string Redact(string? url)
    {
        if (string.IsNullOrEmpty(url))
        {
            return "";
        }
        var schemeEnd = url.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd < 0)
        {
            return "***"; // not a URL at all (perhaps a key=value string): nothing in it is safe to show
        }
        // The last '@' ends the user info, even when a password holds an unencoded '/', '?' or '@' (an '@' in the query
        // hides more, never less); a ':' after the first '@' is a port's, and there is no password.
        var at = url.LastIndexOf('@');
        var colon = url.IndexOf(':', schemeEnd + 3);
        var redacted = at < 0 || colon < 0 || colon > url.IndexOf('@', schemeEnd + 3)
            ? url
            : string.Concat(url.AsSpan(0, colon + 1), "***", url.AsSpan(at));
        // libpq also takes the password as a query parameter (?password=...), which Parse refuses by name.
        return QueryPassword().Replace(redacted, "$1***");
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"([?&](?:password|passfile)=)[^&#]*", System.Text.RegularExpressions.RegexOptions.IgnoreCase)]
    private static partial System.Text.RegularExpressions.Regex QueryPassword();

    /// <summary>True for loopback names and addresses: the only hosts that may skip TLS by default.</summary>
    public static bool IsLocal(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || host.StartsWith('/') // a Unix socket directory
        || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));

    private static IEnumerable<(string Key, string Value)> QueryPairs(string query)
    {
        foreach (var pair in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString(equals < 0 ? pair : pair[..equals]);
            var value = equals < 0 ? "" : Uri.UnescapeDataString(pair[(equals + 1)..].Replace('+', ' '));
            yield return (key, value);
        }
    }

    private static SslMode ParseSslMode(string value, string url) => value switch
    {
        "disable" => SslMode.Disable,
        "allow" => SslMode.Allow,
        "prefer" => SslMode.Prefer,
        "require" => SslMode.Require,
        "verify-ca" => SslMode.VerifyCA,
        "verify-full" => SslMode.VerifyFull,
        _ => throw new FormatException($"sslmode '{value}' in '{Redact(url)}' is not one of disable, allow, prefer, require, verify-ca, verify-full."),
    };
}

using Amazon.Runtime;
using Amazon.Runtime.Internal;
using Amazon.Runtime.Internal.Auth;
using Amazon.Runtime.Internal.Util;
using Npgsql;

namespace Cruddur.Shared.Data;

/// <summary>
/// Makes RDS IAM database authentication tokens: a SigV4 presigned <c>connect</c> request for service <c>rds-db</c>,
/// valid 15 minutes, which RDS takes as the password of a role granted <c>rds_iam</c>. It is what AWSSDK.RDS's
/// <c>RDSAuthTokenGenerator</c> does, with AWSSDK.Core's presigner (AWSSDK.RDS is not a dependency worth its size here),
/// and what <c>aws rds generate-db-auth-token</c> prints. A token is a credential: it is never logged.
/// </summary>
public sealed class RdsAuthTokenGenerator(AWSCredentials credentials, string region)
{
    /// <summary>The signing service of RDS IAM authentication.</summary>
    public const string ServiceName = "rds-db";

    /// <summary>How long RDS accepts a token (the longest it allows).</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(15);

    /// <summary>How often a data source makes a new token: well inside <see cref="Lifetime"/>, so none it hands out expires.</summary>
    public static readonly TimeSpan Refresh = TimeSpan.FromMinutes(10);

    /// <summary>A token for <paramref name="user"/> at <paramref name="host"/>:<paramref name="port"/>, signed now.</summary>
    public async ValueTask<string> GenerateAsync(string host, int port, string user, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        ArgumentException.ThrowIfNullOrWhiteSpace(user);
        var identity = await credentials.GetCredentialsAsync().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        var request = new DefaultRequest(new ConnectRequest(), ServiceName)
        {
            UseQueryString = true,
            HttpMethod = "GET",
            Endpoint = new UriBuilder(Uri.UriSchemeHttps, host.Trim(), port).Uri,
        };
        request.Parameters.Add("X-Amz-Expires", ((int)Lifetime.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Parameters.Add("DBUser", user.Trim());
        request.Parameters.Add("Action", "connect");
        if (identity.UseToken)
        {
            request.Parameters["X-Amz-Security-Token"] = identity.Token;
        }
        var signing = AWS4PreSignedUrlSigner.SignRequest(
            request, null, new RequestMetrics(), identity.AccessKey, identity.SecretKey, ServiceName, region);
        var url = AmazonServiceClient.ComposeUrl(request).AbsoluteUri;
        // The token is the presigned URL without its scheme, its parameters in the order the aws CLI writes them (RDS
        // takes them in any order; one spelling makes tokens comparable).
        var query = url.IndexOf('?', StringComparison.Ordinal);
        var parameters = $"{url[(query + 1)..]}&{signing.ForQueryParameters}".Split('&')
            .OrderBy(pair => Array.IndexOf(ParameterOrder, pair[..pair.IndexOf('=', StringComparison.Ordinal)]));
        return $"{url[(Uri.UriSchemeHttps.Length + Uri.SchemeDelimiter.Length)..query]}?{string.Join('&', parameters)}";
    }

    private static readonly string[] ParameterOrder =
    [
        "Action", "DBUser", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
        "X-Amz-Security-Token", "X-Amz-Signature",
    ];

    /// <summary>Nothing to send: the request only carries the query parameters the signer signs.</summary>
    private sealed class ConnectRequest : AmazonWebServiceRequest;
}

/// <summary>Hands Npgsql an RDS IAM token as each new physical connection's password.</summary>
public static class RdsIamAuthentication
{
    /// <summary>
    /// Makes every new connection of the data source authenticate with a token from <paramref name="tokens"/> for its
    /// host, port and user, made anew every <paramref name="refresh"/> (default <see cref="RdsAuthTokenGenerator.Refresh"/>)
    /// by Npgsql's periodic password provider, and retried after 5 s when making one failed.
    /// </summary>
    public static NpgsqlDataSourceBuilder UseRdsIamAuthentication(this NpgsqlDataSourceBuilder builder, RdsAuthTokenGenerator tokens, TimeSpan? refresh = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(tokens);
        return builder.UsePeriodicPasswordProvider(
            (settings, cancellationToken) => tokens.GenerateAsync(settings.Host!, settings.Port, settings.Username!, cancellationToken),
            refresh ?? RdsAuthTokenGenerator.Refresh,
            TimeSpan.FromSeconds(5));
    }
}

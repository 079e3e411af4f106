using Cruddur.Shared.Aws;

namespace Cruddur.Api.Authentication;

/// <summary>
/// Which Cognito access tokens may post (<c>COGNITO_USER_POOL_ID</c>, <c>COGNITO_CLIENT_IDS</c>, <c>AWS_REGION</c>),
/// and where the pool's signing keys are (<c>AWS_ENDPOINT_URL</c> for an emulator); read from the environment.
/// </summary>
public sealed class CognitoAuthenticationOptions
{
    public const string UserPoolIdKey = "COGNITO_USER_POOL_ID";
    public const string ClientIdsKey = "COGNITO_CLIENT_IDS";
    public const string AllowAnonymousPostsKey = "ALLOW_ANONYMOUS_POSTS";

    /// <summary>The user pool whose access tokens are accepted; authentication is off when it is not set.</summary>
    public string? UserPoolId { get; init; }

    /// <summary>The app clients whose access tokens may post (access tokens carry <c>client_id</c>, not <c>aud</c>).</summary>
    public IReadOnlySet<string> ClientIds { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    public string Region { get; init; } = AwsClientConfiguration.DefaultRegion;

    /// <summary>An AWS emulator (moto_server) that serves the pool's keys, or null for AWS itself.</summary>
    public Uri? EndpointUrl { get; init; }

    /// <summary>Without a pool, the body's <c>user_handle</c> decides who posts: an operator's explicit choice outside Development.</summary>
    public bool AllowAnonymousPosts { get; init; }

    public bool Enabled => UserPoolId is not null;

    /// <summary>The <c>iss</c> of the pool's tokens; Cognito (and moto_server) always name the AWS address.</summary>
    public string Issuer => $"https://cognito-idp.{Region}.amazonaws.com/{UserPoolId}";

    /// <summary>The pool's public signing keys: the emulator serves them under its own address, AWS under the issuer.</summary>
    public string JwksUrl => EndpointUrl is null
        ? $"{Issuer}/.well-known/jwks.json"
        : $"{EndpointUrl.AbsoluteUri.TrimEnd('/')}/{UserPoolId}/.well-known/jwks.json";

    public static CognitoAuthenticationOptions From(IConfiguration configuration)
    {
        var endpoint = NullIfBlank(configuration["AWS_ENDPOINT_URL"]);
        var allowAnonymous = NullIfBlank(configuration[AllowAnonymousPostsKey]);
        return new CognitoAuthenticationOptions
        {
            UserPoolId = NullIfBlank(configuration[UserPoolIdKey]),
            ClientIds = (configuration[ClientIdsKey] ?? "")
                .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .ToHashSet(StringComparer.Ordinal),
            Region = NullIfBlank(configuration["AWS_REGION"]) ?? NullIfBlank(configuration["AWS_DEFAULT_REGION"]) ?? AwsClientConfiguration.DefaultRegion,
            EndpointUrl = endpoint is null ? null
                : Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) ? uri
                : throw new InvalidOperationException($"AWS_ENDPOINT_URL must be an absolute URL (was '{endpoint}')."),
            AllowAnonymousPosts = allowAnonymous is null ? false
                : bool.TryParse(allowAnonymous, out var allowed) ? allowed
                : throw new InvalidOperationException($"{AllowAnonymousPostsKey} must be true or false (was '{allowAnonymous}')."),
        };
    }

    /// <summary>
    /// Authentication fails closed: outside Development, an Api without a pool starts only when anonymous posting is
    /// asked for by name. With a pool, posts need its access tokens, so asking for anonymous posts too is a contradiction.
    /// </summary>
    /// <exception cref="InvalidOperationException">The settings cannot work together; the message names the variable.</exception>
    public void Validate(IHostEnvironment environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        if (!Enabled)
        {
            if (!AllowAnonymousPosts && !environment.IsDevelopment())
            {
                throw new InvalidOperationException(
                    $"{UserPoolIdKey} is not set: set it (and {ClientIdsKey}) to the Cognito user pool whose access tokens may post. "
                    + $"To let anyone post as any handle instead (the body's user_handle decides), set {AllowAnonymousPostsKey}=true.");
            }
            return;
        }
        if (AllowAnonymousPosts)
        {
            throw new InvalidOperationException(
                $"{AllowAnonymousPostsKey}=true and {UserPoolIdKey} are both set: with a pool, posts need its access tokens. Unset one of them.");
        }
        if (ClientIds.Count == 0)
        {
            throw new InvalidOperationException(
                $"{UserPoolIdKey} is set but {ClientIdsKey} is empty: name the app clients (comma-separated) whose access tokens may post.");
        }
        // A pool id starts with its region ("us-east-1_Abc"): another region's pool would reject every token.
        var underscore = UserPoolId!.IndexOf('_', StringComparison.Ordinal);
        if (underscore > 0 && UserPoolId[..underscore] != Region)
        {
            throw new InvalidOperationException(
                $"{UserPoolIdKey} {UserPoolId} is a pool of {UserPoolId[..underscore]}, but AWS_REGION is {Region}: set AWS_REGION={UserPoolId[..underscore]}.");
        }
    }

    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}

using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.IdentityModel.Tokens;

namespace Cruddur.Api.Authentication;

public static class CognitoAuthenticationExtensions
{
    /// <summary>Lifetimes are checked with this much leeway for clocks that disagree.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(30);

    /// <summary>
    /// JWT bearer authentication of the Cognito pool's access tokens when <c>COGNITO_USER_POOL_ID</c> is set:
    /// issuer, RS256 signature against the pool's keys, lifetime, <c>token_use</c> = access, <c>client_id</c> in
    /// <c>COGNITO_CLIENT_IDS</c>. Without a pool, anonymous posts (<c>ALLOW_ANONYMOUS_POSTS=true</c>, or the
    /// Development environment) with a startup warning; otherwise the Api does not start.
    /// </summary>
    public static IServiceCollection AddCognitoAuthentication(this IServiceCollection services, IConfiguration configuration, IHostEnvironment environment)
    {
        var options = CognitoAuthenticationOptions.From(configuration);
        options.Validate(environment);
        services.AddSingleton(options);
        if (!options.Enabled)
        {
            services.AddHostedService<DisabledWarning>();
            return services;
        }

        var keys = CognitoSigningKeys.Manager(options, new HttpClient { Timeout = TimeSpan.FromSeconds(10) });
        services.AddAuthorization();
        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer(jwt =>
        {
            jwt.MapInboundClaims = false; // keep Cognito's claim names: sub, token_use, client_id
            jwt.ConfigurationManager = keys;
            jwt.TokenValidationParameters = new TokenValidationParameters
            {
                ValidIssuer = options.Issuer,
                ValidateAudience = false, // access tokens carry client_id instead of aud: checked below
                ValidAlgorithms = [SecurityAlgorithms.RsaSha256],
                RequireExpirationTime = true,
                ClockSkew = ClockSkew,
            };
            jwt.Events = new JwtBearerEvents
            {
                OnTokenValidated = context =>
                {
                    var token = context.Principal!;
                    if (token.FindFirst("token_use")?.Value != "access")
                    {
                        context.Fail("Not an access token."); // an ID token proves who, not what it may do
                    }
                    else if (token.FindFirst("client_id")?.Value is not { } client || !options.ClientIds.Contains(client))
                    {
                        context.Fail("The token's app client may not post.");
                    }
                    else if (string.IsNullOrEmpty(token.FindFirst(SignedInUser.SubClaim)?.Value))
                    {
                        context.Fail("The token names no user.");
                    }
                    return Task.CompletedTask;
                },
            };
        });
        services.AddHostedService<EnabledNotice>();
        return services;
    }

    /// <summary>Authentication and authorization in the pipeline, when a pool is configured.</summary>
    public static WebApplication UseCognitoAuthentication(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        if (app.Services.GetRequiredService<CognitoAuthenticationOptions>().Enabled)
        {
            app.UseAuthentication();
            app.UseAuthorization();
        }
        return app;
    }

    /// <summary>Says once, at startup, that anyone may post as any handle, and why that is allowed.</summary>
    private sealed class DisabledWarning(CognitoAuthenticationOptions options, IHostEnvironment environment, ILogger<CognitoAuthenticationOptions> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            logger.LogWarning(
                "Anonymous posting is on ({Reason}): {UserPoolIdKey} is not set, so the body's user_handle decides who posts. Set it (and {ClientIdsKey}) to require a Cognito access token",
                options.AllowAnonymousPosts ? $"{CognitoAuthenticationOptions.AllowAnonymousPostsKey}=true" : $"the {environment.EnvironmentName} environment",
                CognitoAuthenticationOptions.UserPoolIdKey, CognitoAuthenticationOptions.ClientIdsKey);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class EnabledNotice(CognitoAuthenticationOptions options, ILogger<CognitoAuthenticationOptions> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            logger.LogInformation(
                "Posts need a Cognito access token of pool {UserPoolId} from {ClientCount} app client(s); signing keys from {JwksUrl}",
                options.UserPoolId, options.ClientIds.Count, options.JwksUrl);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

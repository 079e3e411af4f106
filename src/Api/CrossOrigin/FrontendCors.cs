using System.ComponentModel.DataAnnotations;
using Cruddur.Shared.Configuration;

namespace Cruddur.Api.CrossOrigin;

/// <summary>
/// Cross-origin access for the Cruddur frontend, ASP.NET Core's CORS with one named policy that only the <c>/api</c>
/// endpoints carry: the dashboard, health and the OpenAPI document stay same-origin. The origins are
/// <c>FRONTEND_URL</c>'s, exact matches; the methods and headers are the ones the frontend's requests use.
/// </summary>
public static class FrontendCors
{
    public const string PolicyName = "frontend";

    /// <summary>How long a browser may reuse a preflight's answer (Chromium keeps it at most 2 hours).</summary>
    public static readonly TimeSpan PreflightMaxAge = TimeSpan.FromMinutes(10);

    public static IServiceCollection AddFrontendCors(this IServiceCollection services, IConfiguration configuration)
    {
        var settings = services.AddSettings<FrontendOriginsOptions>(configuration);
        return services.AddCors(cors => cors.AddPolicy(PolicyName, policy => policy
            .WithOrigins([.. settings.Origins])
            .WithMethods(HttpMethods.Get, HttpMethods.Post)
            .WithHeaders("Authorization", "Content-Type", "Accept", "Idempotency-Key")
            // Location (the 202's activity), Link (the feed's next page), Retry-After (409, 429, 503), WWW-Authenticate (401).
            .WithExposedHeaders("Location", "Link", "Retry-After", "WWW-Authenticate")
            .SetPreflightMaxAge(PreflightMaxAge)));
    }
}

/// <summary>The origins the frontend is served from (<c>FRONTEND_URL</c>, the seed's name): a comma-separated list.</summary>
public sealed class FrontendOriginsOptions : IValidatableObject
{
    public const string Key = "FRONTEND_URL";

    [ConfigurationKeyName(Key), Display(Name = Key)]
    public string? FrontendUrl { get; set; }

    /// <summary>Each origin as a browser sends it in <c>Origin</c>: <c>scheme://host[:port]</c>, lower case.</summary>
    public IReadOnlyList<string> Origins => [.. Entries().Select(e => Origin(e)!)];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var entry in Entries())
        {
            if (Origin(entry) is null)
            {
                yield return new ValidationResult(
                    $"{Key} must be origins separated by commas, each scheme://host[:port] with http or https and no wildcard or path (was '{entry}').",
                    [Key]);
            }
        }
    }

    private string[] Entries() =>
        (FrontendUrl ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The origin of an entry, or null when it is not one: a wildcard, a path, a query or credentials would widen or blur the match.</summary>
    private static string? Origin(string entry) =>
        !entry.Contains('*', StringComparison.Ordinal)
        && Uri.TryCreate(entry, UriKind.Absolute, out var uri)
        && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
        && uri.AbsolutePath == "/" && uri.Query.Length == 0 && uri.Fragment.Length == 0 && uri.UserInfo.Length == 0
            ? uri.GetLeftPart(UriPartial.Authority)
            : null;
}

using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Threading.RateLimiting;
using Cruddur.Api.Authentication;
using Cruddur.Shared.Configuration;
using Microsoft.AspNetCore.RateLimiting;

namespace Cruddur.Api.RateLimiting;

/// <summary>
/// A fair share of the posts per user, with ASP.NET Core's rate limiter: a token bucket per signed-in <c>sub</c>, or per
/// client address for anonymous posts where those are allowed. It runs after authentication (a 401 costs no token)
/// and before the body is read and the post joins a batch: a refused post answers 429 with <c>Retry-After</c> and
/// queues nothing.
/// </summary>
public static class PostRateLimit
{
    public const string PolicyName = "posts";

    public static IServiceCollection AddPostRateLimit(this IServiceCollection services, IConfiguration configuration)
    {
        var settings = services.AddSettings<PostRateLimitOptions>(configuration);
        return services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.OnRejected = RejectAsync;
            limiter.AddPolicy(PolicyName, http => settings.PerSecond == 0
                ? RateLimitPartition.GetNoLimiter("off")
                : RateLimitPartition.GetTokenBucketLimiter(Poster(http), _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = settings.Burst,
                    TokensPerPeriod = settings.PerSecond,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0, // refused at once: a queued post would hold its connection and still be late
                    AutoReplenishment = true,
                }));
        });
    }

    /// <summary>Whose bucket a post takes from: the signed-in user, else the client's address.</summary>
    public static string Poster(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        return SignedInUser.CognitoUserId(http) is { } sub
            ? $"sub:{sub}"
            : $"address:{http.Connection.RemoteIpAddress?.ToString() ?? "unknown"}";
    }

    /// <summary>The longest a refused post's answer is held back (see <see cref="RejectAsync"/>).</summary>
    public static readonly TimeSpan MaxRefusalDelay = TimeSpan.FromSeconds(1);

    private static async ValueTask RejectAsync(OnRejectedContext context, CancellationToken cancellationToken)
    {
        var http = context.HttpContext;
        var wait = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : MaxRefusalDelay;
        // The 429 is answered once the poster's wait is over (at most a second), not at once: a refused request then
        // costs its connection a second and the Api's cores nothing meanwhile. Answered at once, one user flooding at
        // 64 connections was refused ~6,700 times a second, and that CPU was taken from everyone else's posts: another
        // user's POST p99 at 10/s went 5.3x its p99 alone (bin/bench --quick, a busy machine).
        try
        {
            await Task.Delay(wait < MaxRefusalDelay ? wait : MaxRefusalDelay, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return; // the client left
        }
        var seconds = Math.Max(1, (int)Math.Ceiling((wait - MaxRefusalDelay).TotalSeconds));
        http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        await http.RequestServices.GetRequiredService<IProblemDetailsService>().TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            ProblemDetails =
            {
                Status = StatusCodes.Status429TooManyRequests,
                Title = "Too many posts",
                Detail = $"You are posting faster than {PostRateLimitOptions.PerSecondKey} allows; nothing was queued. Retry in {seconds} s.",
            },
        });
    }
}

/// <summary>The bucket every poster gets: <see cref="Burst"/> posts at once, refilled at <see cref="PerSecond"/> a second.</summary>
public sealed class PostRateLimitOptions : IValidatableObject
{
    public const string PerSecondKey = "POST_RATE_LIMIT_PER_SECOND";

    public const string BurstKey = "POST_RATE_LIMIT_BURST";

    /// <summary>Posts a second one poster may keep up; 0 turns the limit off (a load test from one address, say).</summary>
    [ConfigurationKeyName(PerSecondKey), Display(Name = PerSecondKey), Range(0, 100_000)]
    public int PerSecond { get; set; } = 10;

    /// <summary>Posts one poster may send at once before the rate applies.</summary>
    [ConfigurationKeyName(BurstKey), Display(Name = BurstKey), Range(1, 100_000)]
    public int Burst { get; set; } = 100;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Burst < PerSecond)
        {
            // A second's refill would not fit in the bucket: the rate could never be reached.
            yield return new ValidationResult($"{BurstKey} ({Burst}) must be at least {PerSecondKey} ({PerSecond}).", [BurstKey]);
        }
    }
}

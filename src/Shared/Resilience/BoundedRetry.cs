using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Cruddur.Shared.Resilience;

/// <summary>How hard a call is retried: attempts, exponential delays with jitter, and time limits.</summary>
public sealed record RetryBounds
{
    public int MaxRetryAttempts { get; init; } = 6;

    public TimeSpan FirstDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>All attempts of one call together.</summary>
    public TimeSpan TotalTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>One attempt, when an attempt may hang (a network call); null leaves attempts unbounded but for the total.</summary>
    public TimeSpan? AttemptTimeout { get; init; }
}

public static class BoundedRetry
{
    /// <summary>
    /// The one retry shape of this codebase: a total timeout around exponential retries with jitter of the
    /// errors <paramref name="isTransient"/> accepts, each retry logged as a warning naming <paramref name="what"/>.
    /// </summary>
    public static ResiliencePipelineBuilder AddBoundedRetry(
        this ResiliencePipelineBuilder pipeline, RetryBounds bounds, Func<Exception, bool> isTransient, ILogger logger, string what)
    {
        ArgumentNullException.ThrowIfNull(bounds);
        pipeline
            .AddTimeout(bounds.TotalTimeout) // outermost: bounds all attempts together
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle(isTransient),
                MaxRetryAttempts = bounds.MaxRetryAttempts,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = bounds.FirstDelay,
                MaxDelay = bounds.MaxDelay,
                OnRetry = retry =>
                {
                    logger.LogWarning("{What}: transient error ({Error}); retry {Attempt} of {Max} in {Delay:0} ms",
                        what, Describe(retry.Outcome.Exception), retry.AttemptNumber + 1, bounds.MaxRetryAttempts, retry.RetryDelay.TotalMilliseconds);
                    return default;
                },
            });
        if (bounds.AttemptTimeout is { } attempt)
        {
            pipeline.AddTimeout(attempt);
        }
        return pipeline;
    }

    private static string Describe(Exception? exception) => exception switch
    {
        Npgsql.PostgresException postgres => $"{postgres.SqlState} {postgres.MessageText}",
        null => "none",
        _ => $"{exception.GetType().Name}: {exception.Message}",
    };
}

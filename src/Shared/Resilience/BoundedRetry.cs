using Cruddur.Shared.Data;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Cruddur.Shared.Resilience;

/// <summary>How hard a call is retried: attempts, exponential delays with jitter, and time limits.</summary>
public sealed record RetryBounds
{
    /// <summary>Retries after the first attempt; <see cref="int.MaxValue"/> waits without limit (a startup wait, a poller).</summary>
    public int MaxRetryAttempts { get; init; } = 6;

    public TimeSpan FirstDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>All attempts of one call together; <see cref="Timeout.InfiniteTimeSpan"/> for no limit.</summary>
    public TimeSpan TotalTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>One attempt, when an attempt may hang (a network call); null leaves attempts unbounded but for the total.</summary>
    public TimeSpan? AttemptTimeout { get; init; }

    /// <summary>Without end: retried until it succeeds or the caller cancels.</summary>
    public bool Unlimited => MaxRetryAttempts == int.MaxValue;
}

public static class BoundedRetry
{
    /// <summary>
    /// The one retry shape of this codebase: a total timeout around exponential retries with jitter of the
    /// errors <see cref="TransientErrors.IsTransient"/> accepts (or of what <paramref name="shouldHandle"/> says), each retry
    /// logged as a warning naming <paramref name="what"/> (or as <paramref name="onRetry"/> tells it). A disk_full error is also
    /// noted for the health checks (<see cref="DatabaseDiskFull"/>).
    /// </summary>
    public static ResiliencePipelineBuilder AddBoundedRetry(
        this ResiliencePipelineBuilder pipeline, RetryBounds bounds, ILogger logger, string what,
        Func<RetryPredicateArguments<object>, ValueTask<bool>>? shouldHandle = null, Func<OnRetryArguments<object>, ValueTask>? onRetry = null)
    {
        ArgumentNullException.ThrowIfNull(bounds);
        if (bounds.TotalTimeout != Timeout.InfiniteTimeSpan)
        {
            pipeline.AddTimeout(bounds.TotalTimeout); // outermost: bounds all attempts together
        }
        pipeline.AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = shouldHandle ?? new PredicateBuilder().Handle<Exception>(TransientErrors.IsTransient),
            MaxRetryAttempts = bounds.MaxRetryAttempts,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = bounds.FirstDelay,
            MaxDelay = bounds.MaxDelay,
            OnRetry = retry =>
            {
                DatabaseDiskFull.Note(retry.Outcome.Exception); // for the health checks: once PostgreSQL stops, only this error says why
                if (onRetry is not null)
                {
                    return onRetry(retry);
                }
                if (bounds.Unlimited)
                {
                    logger.LogWarning("{What}: transient error ({Error}); retry {Attempt} in {Delay:0} ms",
                        what, TransientErrors.Describe(retry.Outcome.Exception), retry.AttemptNumber + 1, retry.RetryDelay.TotalMilliseconds);
                }
                else
                {
                    logger.LogWarning("{What}: transient error ({Error}); retry {Attempt} of {Max} in {Delay:0} ms",
                        what, TransientErrors.Describe(retry.Outcome.Exception), retry.AttemptNumber + 1, bounds.MaxRetryAttempts, retry.RetryDelay.TotalMilliseconds);
                }
                return default;
            },
        });
        if (bounds.AttemptTimeout is { } attempt)
        {
            pipeline.AddTimeout(attempt);
        }
        return pipeline;
    }
}

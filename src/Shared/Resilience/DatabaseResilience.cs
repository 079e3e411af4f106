using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Polly;

namespace Cruddur.Shared.Resilience;

/// <summary>
/// The database's named retry pipelines: <see cref="Retries.DatabaseWrite"/>, which every database write runs through
/// (transient errors retried with exponential backoff and jitter, bounded in attempts and in total time; anything else
/// passes straight through), <see cref="Retries.DatabaseStartup"/> and <see cref="Retries.MigrationLock"/>.
/// </summary>
public static class DatabaseResilience
{
    /// <summary>A Worker may start before Postgres: its startup waits without limit, 0.5 s doubling to 10 s between tries.</summary>
    public static RetryBounds StartupBounds { get; } = new()
    {
        MaxRetryAttempts = int.MaxValue,
        FirstDelay = TimeSpan.FromMilliseconds(500),
        MaxDelay = TimeSpan.FromSeconds(10),
        TotalTimeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>Another process is migrating: look again every 250 ms until its lock is free (it is released if that process dies).</summary>
    public static RetryBounds MigrationLockBounds { get; } = new()
    {
        MaxRetryAttempts = int.MaxValue,
        FirstDelay = TimeSpan.FromMilliseconds(250),
        MaxDelay = TimeSpan.FromMilliseconds(250),
        TotalTimeout = Timeout.InfiniteTimeSpan,
    };

    public static IServiceCollection AddDatabaseResilience(this IServiceCollection services, RetryBounds? writeBounds = null)
    {
        services.AddResiliencePipeline(Retries.DatabaseWrite, (pipeline, context) =>
            pipeline.AddBoundedRetry(writeBounds ?? new RetryBounds(), Logger(context.ServiceProvider), "Database write"));
        services.AddResiliencePipeline(Retries.DatabaseStartup, (pipeline, context) =>
            pipeline.AddBoundedRetry(StartupBounds, Logger(context.ServiceProvider),
                "Database not reachable yet (on RDS, does the security group admit this host's IP? bin/rds-update-sg-rule, DB_SG_ID)"));
        services.AddResiliencePipeline(Retries.MigrationLock, (pipeline, context) =>
        {
            var logger = Logger(context.ServiceProvider);
            pipeline.AddBoundedRetry(MigrationLockBounds, logger, "Migration lock", new PredicateBuilder().HandleResult(false), retry =>
            {
                if (retry.AttemptNumber % 20 == 0) // about every 5 s
                {
                    logger.LogInformation("Waiting for the migration lock held by another process (try {Attempt})", retry.AttemptNumber + 1);
                }
                return default;
            });
        });
        return services;
    }

    private static ILogger Logger(IServiceProvider provider) =>
        provider.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(DatabaseResilience).FullName!);
}

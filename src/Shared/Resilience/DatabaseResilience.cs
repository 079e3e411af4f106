using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using Polly;

namespace Cruddur.Shared.Resilience;

/// <summary>
/// The named Polly pipeline every database write runs through: transient errors (a dropped connection,
/// a serialization failure, a deadlock, a server restarting) are retried with exponential backoff and
/// jitter, bounded in attempts and in total time; anything else passes straight through.
/// </summary>
public static class DatabaseResilience
{
    /// <summary>The pipeline's key, for <c>ResiliencePipelineProvider&lt;string&gt;.GetPipeline</c>.</summary>
    public const string Writes = "database-writes";

    public static IServiceCollection AddDatabaseResilience(this IServiceCollection services, RetryBounds? bounds = null)
    {
        services.AddResiliencePipeline(Writes, (pipeline, context) => pipeline.AddBoundedRetry(
            bounds ?? new RetryBounds(),
            IsTransient,
            context.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(DatabaseResilience).FullName!),
            "Database write"));
        return services;
    }

    /// <summary>
    /// True for errors a retry can fix, or errors caused by one: connection failures (08xxx, I/O), the server shutting down or
    /// restarting (57P0x), too many connections (53300), serialization failures and deadlocks (40001, 40P01).
    /// </summary>
    public static bool IsTransient(Exception exception) => IsTransientItself(exception)
        || (exception.InnerException is { } inner && IsTransient(inner)); // e.g. Hangfire's client wraps Npgsql's errors

    private static bool IsTransientItself(Exception exception) => exception switch
    {
        PostgresException postgres => postgres.IsTransient
            || postgres.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected
            || postgres.SqlState.StartsWith("08", StringComparison.Ordinal)
            || postgres.SqlState.StartsWith("57P0", StringComparison.Ordinal),
        NpgsqlException npgsql => npgsql.IsTransient,
        TimeoutException => true,
        _ => false,
    };
}

using Microsoft.Extensions.Configuration;

namespace Cruddur.Worker.Hosting;

/// <summary>The host's settings, from configuration (environment variables), with defaults for a developer's machine.</summary>
internal sealed record FunctionHostOptions
{
    /// <summary>Concurrent invocations in this Worker (<c>WORKER_COUNT</c>).</summary>
    public int WorkerCount { get; init; } = 10;

    /// <summary>Hangfire retries of a transient failure before the job fails (<c>JOB_RETRY_ATTEMPTS</c>).</summary>
    public int RetryAttempts { get; init; } = 10;

    /// <summary>
    /// After SIGTERM, how long running invocations may finish before they are cancelled
    /// (<c>WORKER_SHUTDOWN_GRACE_SECONDS</c>). Nothing new is fetched meanwhile.
    /// </summary>
    public TimeSpan ShutdownGrace { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How often scheduled jobs (retries) and recurring jobs are looked for (<c>HANGFIRE_SCHEDULE_POLL_SECONDS</c>).</summary>
    public TimeSpan SchedulePollInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long Hangfire's fetches, heartbeats and state changes wait for the database to come back before they
    /// fail and fall into Hangfire's own, slower backoff (<c>DATABASE_OUTAGE_WAIT_SECONDS</c>).
    /// </summary>
    public TimeSpan DatabaseOutageWait { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Npgsql pool size: every worker thread may hold one connection for Hangfire and one for its function, plus headroom.</summary>
    public int PoolSize => (WorkerCount * 2) + 10;

    public static FunctionHostOptions From(IConfiguration configuration)
    {
        var defaults = new FunctionHostOptions();
        return new FunctionHostOptions
        {
            WorkerCount = Positive(configuration, "WORKER_COUNT", defaults.WorkerCount),
            RetryAttempts = Math.Max(0, configuration.GetValue("JOB_RETRY_ATTEMPTS", defaults.RetryAttempts)),
            ShutdownGrace = TimeSpan.FromSeconds(Positive(configuration, "WORKER_SHUTDOWN_GRACE_SECONDS", (int)defaults.ShutdownGrace.TotalSeconds)),
            SchedulePollInterval = TimeSpan.FromSeconds(Positive(configuration, "HANGFIRE_SCHEDULE_POLL_SECONDS", (int)defaults.SchedulePollInterval.TotalSeconds)),
            DatabaseOutageWait = TimeSpan.FromSeconds(Positive(configuration, "DATABASE_OUTAGE_WAIT_SECONDS", (int)defaults.DatabaseOutageWait.TotalSeconds)),
        };
    }

    private static int Positive(IConfiguration configuration, string key, int fallback)
    {
        var value = configuration.GetValue(key, fallback);
        return value > 0 ? value : throw new InvalidOperationException($"{key} must be a positive whole number, not '{configuration[key]}'.");
    }
}

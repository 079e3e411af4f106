using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace Cruddur.Worker.Hosting;

/// <summary>The host's settings, bound from configuration (environment variables), with defaults for a developer's machine.</summary>
internal sealed record FunctionHostOptions
{
    /// <summary>
    /// Concurrent invocations in this Worker. Two, not Hangfire's five per core: an invocation here is bound by the CPU
    /// (its own and its PostgreSQL backend's), so more of them store no more posts, and on a machine shared with the Api
    /// they take its cores in bursts: POST p99 at a fixed 1,000/s (5 ms commit interval) was 37-40 ms with 10 and
    /// 12-24 ms with 2, for the same stored rate (docs/lab/post-latency.md, "The Worker's share of the cores"). A Worker
    /// whose functions wait on a remote database or network may want more.
    /// </summary>
    [ConfigurationKeyName("WORKER_COUNT"), Display(Name = "WORKER_COUNT"), Range(1, 1000)]
    public int WorkerCount { get; init; } = 2;

    /// <summary>Hangfire retries of a transient failure before the job fails.</summary>
    [ConfigurationKeyName("JOB_RETRY_ATTEMPTS"), Display(Name = "JOB_RETRY_ATTEMPTS"), Range(0, 100)]
    public int RetryAttempts { get; init; } = 10;

    /// <summary>After SIGTERM, how long running invocations may finish before they are cancelled. Nothing new is fetched meanwhile.</summary>
    [ConfigurationKeyName("WORKER_SHUTDOWN_GRACE_SECONDS"), Display(Name = "WORKER_SHUTDOWN_GRACE_SECONDS"), Range(1, 3600)]
    public int ShutdownGraceSeconds { get; init; } = 20;

    /// <summary>How often scheduled jobs (retries) and recurring jobs are looked for.</summary>
    [ConfigurationKeyName("HANGFIRE_SCHEDULE_POLL_SECONDS"), Display(Name = "HANGFIRE_SCHEDULE_POLL_SECONDS"), Range(1, 3600)]
    public int SchedulePollSeconds { get; init; } = 5;

    /// <summary>How long Hangfire's fetches, heartbeats and state changes wait for the database to come back before they fail and fall into Hangfire's own, slower backoff.</summary>
    [ConfigurationKeyName("DATABASE_OUTAGE_WAIT_SECONDS"), Display(Name = "DATABASE_OUTAGE_WAIT_SECONDS"), Range(1, 3600)]
    public int DatabaseOutageWaitSeconds { get; init; } = 30;

    public TimeSpan ShutdownGrace => TimeSpan.FromSeconds(ShutdownGraceSeconds);

    public TimeSpan SchedulePollInterval => TimeSpan.FromSeconds(SchedulePollSeconds);

    public TimeSpan DatabaseOutageWait => TimeSpan.FromSeconds(DatabaseOutageWaitSeconds);

    /// <summary>
    /// The size of each of the Worker's two Npgsql pools: every worker thread may hold one connection of the main pool
    /// for its function and one of the asynchronous-commit pool for Hangfire, plus headroom for timers and Hangfire's
    /// own loops.
    /// </summary>
    public int PoolSize => WorkerCount + 10;
}

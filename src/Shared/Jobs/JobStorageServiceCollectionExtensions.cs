using Cruddur.Shared.Resilience;
using Hangfire;
using Hangfire.AspNetCore;
using Hangfire.Logging;
using Hangfire.PostgreSql;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using Polly;
using Polly.Registry;

namespace Cruddur.Shared.Jobs;

public static class JobStorageServiceCollectionExtensions
{
    /// <summary>Hangfire's tables live in this schema of the application's database.</summary>
    public const string Schema = "hangfire";

    /// <summary>
    /// Registers Hangfire's Postgres storage on the process's one <see cref="NpgsqlDataSource"/> and the
    /// <see cref="IJobQueue"/> client. Storage and activator are per container (not Hangfire's statics),
    /// so several hosts can share a process, as the tests do. <c>waitForDatabase</c> is how long Hangfire's
    /// connections wait out a database outage before failing: zero for the Api, which answers 503 at once;
    /// a Worker waits (see <see cref="DataSourceConnectionFactory"/>).
    /// </summary>
    public static IServiceCollection AddCruddurJobStorage(this IServiceCollection services, IConfiguration configuration, TimeSpan waitForDatabase = default)
    {
        var options = StorageOptions(configuration);
        var retention = JobRetention(configuration);
        if (waitForDatabase > TimeSpan.Zero)
        {
            services.AddResiliencePipeline(Retries.HangfireConnection, (pipeline, context) => pipeline.AddBoundedRetry(
                WaitBounds(waitForDatabase),
                context.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger("Cruddur.Jobs.Storage"),
                "Hangfire connection"));
        }
        services.AddSingleton<JobStorage>(provider =>
        {
            var open = waitForDatabase > TimeSpan.Zero
                ? provider.GetRequiredService<ResiliencePipelineProvider<string>>().GetPipeline(Retries.HangfireConnection)
                : null;
            // How long a finished (succeeded or deleted) job keeps its rows; failed jobs stay until handled.
            return new PostgreSqlStorage(new DataSourceConnectionFactory(provider.GetRequiredService<NpgsqlDataSource>(), open), options)
            {
                JobExpirationTimeout = retention,
            };
        });
        services.AddSingleton<JobActivator>(provider => new AspNetCoreJobActivator(provider.GetRequiredService<IServiceScopeFactory>()));
        LogProvider.SetCurrentLogProvider(new HangfireLogProvider());
        services.AddHangfire((provider, hangfire) =>
        {
            HangfireLogProvider.Use(provider.GetRequiredService<ILoggerFactory>());
            hangfire
                .UseLogProvider(new HangfireLogProvider())
                .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
                .UseSimpleAssemblyNameTypeSerializer()
                .UseRecommendedSerializerSettings();
        });
        services.AddSingleton<IJobQueue, HangfireJobQueue>();
        // Measured by bin/bench: 63 -> 43 statements per batch job (docs/benchmarks.md). HANGFIRE_LEAN_FILTERS=false restores them.
        if (configuration.GetValue("HANGFIRE_LEAN_FILTERS", true))
        {
            RemoveUnusedDefaultFilters();
        }
        return services;
    }

    /// <summary>
    /// Removes Hangfire's default global filters that Cruddur does not use and that cost statements on every
    /// job: culture capture (two job parameters per enqueue; payloads are culture-invariant JSON), daily and
    /// hourly statistics history (two counter rows per finished job; only the dashboard's graphs read them) and
    /// continuations (a parameter read per state change; no job has continuations). Retries stay, and so do the
    /// dashboard's job lists, counts and failure reasons; only its history graphs stay empty.
    /// Process-wide: Hangfire keeps these filters in a static collection.
    /// </summary>
    public static void RemoveUnusedDefaultFilters()
    {
        lock (GlobalJobFilters.Filters)
        {
            foreach (var filter in GlobalJobFilters.Filters
                .Where(f => f.Instance is CaptureCultureAttribute or StatisticsHistoryAttribute or ContinuationsSupportAttribute).ToList())
            {
                GlobalJobFilters.Filters.Remove(filter.Instance);
            }
        }
    }

    /// <summary>The JOB_RETENTION setting's name.</summary>
    public const string JobRetentionKey = "JOB_RETENTION";

    /// <summary>
    /// How long a succeeded job's rows (job, states, parameters) are kept: <c>JOB_RETENTION</c>, a duration such as
    /// <c>01:00:00</c>. One hour, not Hangfire's day: a succeeded job of 25 posts takes 7,250 bytes on disk, so at
    /// 1,000 posts/s a day's retention holds 3.5 million jobs, 25 GB, and an hour's 1 GB (docs/reliability.md, "Job
    /// retention"). The activity itself is in <c>activities</c>; an hour leaves time to look a job up by its 202's id.
    /// </summary>
    public static TimeSpan JobRetention(IConfiguration configuration)
    {
        var text = configuration[JobRetentionKey];
        if (string.IsNullOrWhiteSpace(text))
        {
            return TimeSpan.FromHours(1);
        }
        return TimeSpan.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var retention) && retention >= TimeSpan.FromSeconds(1)
            ? retention
            : throw new InvalidOperationException($"{JobRetentionKey} must be a duration of at least a second, such as 01:00:00 (an hour) or 1.00:00:00 (a day); was '{text}'.");
    }

    /// <summary>
    /// The storage options, measured rather than guessed (see docs and DESIGN.md): the schema is installed by
    /// the migrator under its advisory lock, not by every process that starts.
    /// </summary>
    public static PostgreSqlStorageOptions StorageOptions(IConfiguration configuration) => new()
    {
        SchemaName = Schema,
        PrepareSchemaIfNecessary = false,
        // How long a job enqueued by another process may wait: latency only; 250 ms keeps the feed fresh
        // without spending the CPU the jobs need (10 ms burned it; the default 15 s made posts wait 12 s).
        QueuePollInterval = TimeSpan.FromMilliseconds(configuration.GetValue("HANGFIRE_QUEUE_POLL_MS", 250)),
        // Long polling lost jobs in our measurements (DESIGN.md): off.
        EnableLongPolling = false,
        // A running job keeps its claim by heartbeat; a crashed worker's jobs come back after this timeout.
        UseSlidingInvisibilityTimeout = true,
        InvisibilityTimeout = TimeSpan.FromSeconds(configuration.GetValue("HANGFIRE_INVISIBILITY_TIMEOUT_SECONDS", 120)),
        // A lock row whose release failed (a killed process, or a database restart mid-state-change) blocks the
        // next taker until it is this old: at 60 s, each job caught in a restart held a Worker thread for up to
        // a minute (chaos scenario c). Hangfire holds these locks for milliseconds (state changes, schedulers).
        DistributedLockTimeout = TimeSpan.FromSeconds(configuration.GetValue("HANGFIRE_LOCK_TIMEOUT_SECONDS", 5)),
        UseNativeDatabaseTransactions = true,
        EnableTransactionScopeEnlistment = false,
        // Expired rows are deleted every tenth of the retention (at most hourly, Hangfire's default), so the tables
        // hold at most ~1.1 retentions of jobs (issue 17's bound: 1.2).
        JobExpirationCheckInterval = TimeSpan.FromTicks(Math.Clamp(JobRetention(configuration).Ticks / 10, TimeSpan.TicksPerSecond, TimeSpan.TicksPerHour)),
    };

    /// <summary>Installs or upgrades Hangfire's schema with Hangfire's own installer.</summary>
    public static void InstallSchema(NpgsqlDataSource dataSource) =>
        _ = new PostgreSqlStorage(new DataSourceConnectionFactory(dataSource), new PostgreSqlStorageOptions
        {
            SchemaName = Schema,
            PrepareSchemaIfNecessary = true,
            EnableTransactionScopeEnlistment = false,
        });

    // Retries every 0.25-1 s until the database answers: an outage ends within a second of the server being back.
    private static RetryBounds WaitBounds(TimeSpan wait) => new()
    {
        MaxRetryAttempts = (int)Math.Ceiling(wait / TimeSpan.FromMilliseconds(250)),
        FirstDelay = TimeSpan.FromMilliseconds(250),
        MaxDelay = TimeSpan.FromSeconds(1),
        TotalTimeout = wait,
    };

    /// <summary>
    /// Hands Hangfire its connections, opened through <paramref name="open"/>. Hangfire opens a connection that
    /// comes closed, and on failure its background loops back off for n² seconds per consecutive failure
    /// (1, 4, 9, 16 …): a Worker whose fetches failed through a 4 s restart stood still for 30 s after it.
    /// Waiting here instead keeps that count at zero, so the Worker resumes as soon as the server is back.
    /// </summary>
    private sealed class DataSourceConnectionFactory(NpgsqlDataSource dataSource, ResiliencePipeline? open = null) : IConnectionFactory
    {
        public NpgsqlConnection GetOrCreateConnection() =>
            open is null ? dataSource.CreateConnection() : open.Execute(static source => source.OpenConnection(), dataSource);
    }
}

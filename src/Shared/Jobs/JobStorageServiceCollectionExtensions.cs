using Cruddur.HangfireOverrides;
using Cruddur.Shared.Configuration;
using Cruddur.Shared.Resilience;
using Hangfire;
using Hangfire.AspNetCore;
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
    /// <paramref name="dataSource"/> picks the pool Hangfire's own writes go through (the Worker's asynchronous-commit
    /// pool); by default the process's main pool, whose commits are durable, as a process whose callers are promised a
    /// job (the Api's 202) needs. The storage is Hangfire.PostgreSql's with Cruddur's overrides (<see cref="BatchingPostgreSqlStorage"/>).
    /// </summary>
    public static IServiceCollection AddCruddurJobStorage(
        this IServiceCollection services, IConfiguration configuration, TimeSpan waitForDatabase = default,
        Func<IServiceProvider, NpgsqlDataSource>? dataSource = null)
    {
        var settings = services.AddSettings<JobStorageOptions>(configuration);
        var options = StorageOptions(settings);
        if (waitForDatabase > TimeSpan.Zero)
        {
            services.AddResiliencePipeline(Retries.HangfireConnection, (pipeline, context) => pipeline.AddBoundedRetry(
                WaitBounds(waitForDatabase),
                context.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger("Cruddur.Jobs.Storage"),
                "Hangfire connection"));
        }
        services.AddSingleton(provider =>
        {
            // Hangfire's serializer settings (AddHangfire's callback below) are applied when its configuration is first
            // resolved; a job written before that would be written in the old format.
            _ = provider.GetRequiredService<IGlobalConfiguration>();
            var open = waitForDatabase > TimeSpan.Zero
                ? provider.GetRequiredService<ResiliencePipelineProvider<string>>().GetPipeline(Retries.HangfireConnection)
                : null;
            var connections = new DataSourceConnectionFactory(dataSource?.Invoke(provider) ?? provider.GetRequiredService<NpgsqlDataSource>(), open);
            // How long a finished (succeeded or deleted) job keeps its rows; failed jobs stay until handled.
            return new BatchingPostgreSqlStorage(connections, options)
            {
                JobExpirationTimeout = settings.JobRetention,
            };
        });
        services.AddSingleton<JobStorage>(provider => provider.GetRequiredService<BatchingPostgreSqlStorage>());
        services.AddSingleton<JobActivator>(provider => new AspNetCoreJobActivator(provider.GetRequiredService<IServiceScopeFactory>()));
        services.AddHangfire((provider, hangfire) =>
        {
            // This host's loggers receive the process-wide log provider's lines.
            HangfireLogProvider.Use(provider.GetRequiredService<ILoggerFactory>());
            HangfireGlobals.UseLogProvider(hangfire)
                .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
                .UseSimpleAssemblyNameTypeSerializer()
                .UseRecommendedSerializerSettings();
        });
        services.AddSingleton<IJobQueue, HangfireJobQueue>();
        return services;
    }

    /// <summary>The JOB_RETENTION setting's name.</summary>
    public const string JobRetentionKey = "JOB_RETENTION";

    /// <summary>The storage options of <paramref name="configuration"/>'s settings.</summary>
    public static PostgreSqlStorageOptions StorageOptions(IConfiguration configuration) => StorageOptions(Settings.Read<JobStorageOptions>(configuration));

    /// <summary>
    /// The storage options, measured rather than guessed (docs/architecture.md, "Measured facts"): the schema is installed by
    /// the migrator under its advisory lock, not by every process that starts.
    /// </summary>
    public static PostgreSqlStorageOptions StorageOptions(JobStorageOptions settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new()
        {
            SchemaName = Schema,
            PrepareSchemaIfNecessary = false,
            // The fallback for a job no notification woke a Worker for (JobStorageOptions.QueuePollMilliseconds).
            QueuePollInterval = TimeSpan.FromMilliseconds(settings.QueuePollMilliseconds),
            // The library's long polling lost jobs in our measurements (docs/architecture.md): off. The Worker's
            // NewJobListener wakes its fetchers instead.
            EnableLongPolling = false,
            // A running job keeps its claim by heartbeat; a crashed worker's jobs come back after this timeout.
            UseSlidingInvisibilityTimeout = true,
            InvisibilityTimeout = TimeSpan.FromSeconds(settings.InvisibilityTimeoutSeconds),
            // A lock row whose release failed (a killed process, or a database restart mid-state-change) blocks the
            // next taker until it is this old: at 60 s, each job caught in a restart held a Worker thread for up to
            // a minute (chaos scenario c). Hangfire holds these locks for milliseconds (state changes, schedulers).
            DistributedLockTimeout = TimeSpan.FromSeconds(settings.LockTimeoutSeconds),
            UseNativeDatabaseTransactions = true,
            // Expired rows are deleted every tenth of the retention (at least every second, at most hourly, Hangfire's
            // default), so the tables hold at most ~1.1 retentions of jobs (issue 17's bound: 1.2).
            JobExpirationCheckInterval = TimeSpan.FromTicks(Math.Clamp(settings.JobRetention.Ticks / 10, TimeSpan.TicksPerSecond, TimeSpan.TicksPerHour)),
        };
    }

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

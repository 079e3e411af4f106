using Hangfire;
using Hangfire.AspNetCore;
using Hangfire.Logging;
using Hangfire.PostgreSql;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Cruddur.Shared.Jobs;

public static class JobStorageServiceCollectionExtensions
{
    /// <summary>Hangfire's tables live in this schema of the application's database.</summary>
    public const string Schema = "hangfire";

    /// <summary>
    /// Registers Hangfire's Postgres storage on the process's one <see cref="NpgsqlDataSource"/> and the
    /// <see cref="IJobQueue"/> client. Storage and activator are per container (not Hangfire's statics),
    /// so several hosts can share a process, as the tests do.
    /// </summary>
    public static IServiceCollection AddCruddurJobStorage(this IServiceCollection services, IConfiguration configuration)
    {
        var options = StorageOptions(configuration);
        services.AddSingleton<JobStorage>(provider =>
            new PostgreSqlStorage(new DataSourceConnectionFactory(provider.GetRequiredService<NpgsqlDataSource>()), options));
        services.AddSingleton<JobActivator>(provider => new AspNetCoreJobActivator(provider.GetRequiredService<IServiceScopeFactory>()));
        LogProvider.SetCurrentLogProvider(new HangfireLogProvider());
        lock (GlobalJobFilters.Filters)
        {
            if (!GlobalJobFilters.Filters.Any(f => f.Instance is TraceContextFilter))
            {
                GlobalJobFilters.Filters.Add(new TraceContextFilter());
            }
        }
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
        // A lock row left by a killed process stops blocking recurring jobs after this long.
        DistributedLockTimeout = TimeSpan.FromSeconds(configuration.GetValue("HANGFIRE_LOCK_TIMEOUT_SECONDS", 60)),
        UseNativeDatabaseTransactions = true,
        EnableTransactionScopeEnlistment = false,
    };

    /// <summary>Installs or upgrades Hangfire's schema with Hangfire's own installer.</summary>
    public static void InstallSchema(NpgsqlDataSource dataSource) =>
        _ = new PostgreSqlStorage(new DataSourceConnectionFactory(dataSource), new PostgreSqlStorageOptions
        {
            SchemaName = Schema,
            PrepareSchemaIfNecessary = true,
            EnableTransactionScopeEnlistment = false,
        });

    private sealed class DataSourceConnectionFactory(NpgsqlDataSource dataSource) : IConnectionFactory
    {
        public NpgsqlConnection GetOrCreateConnection() => dataSource.CreateConnection();
    }
}

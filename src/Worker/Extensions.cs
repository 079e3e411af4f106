using Cruddur.Shared.Data;
using Cruddur.Shared.Observability;
using Cruddur.Shared.Resilience;
using Cruddur.Worker.Users;
using Cruddur.Worker.Activities;
using Cruddur.Worker.Health;
using Cruddur.Worker.Hosting;
using Cruddur.Worker.SecurityGroups;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Cruddur.Worker;

public static class Extensions
{
    /// <summary>
    /// The Worker: the function host with every function in this assembly (or <paramref name="functionTypes"/>,
    /// as tests choose theirs), and what the functions need.
    /// </summary>
    public static FunctionHostBuilder AddCruddurWorker(this IHostApplicationBuilder builder, IEnumerable<Type>? functionTypes = null)
    {
        // Defaults first, so that any environment variable overrides them.
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource
        {
            InitialData =
            [
                KeyValuePair.Create("SG_REFRESH_CRON", (string?)SecurityGroupRefreshOptions.DefaultCron),
                KeyValuePair.Create(ActivityPurgeFunctions.CronSetting, (string?)ActivityPurgeFunctions.DefaultCron),
            ],
        });
        builder.Logging.AddCruddurConsole(builder.Configuration);
        // Before the function host: its startup waits for the database, which the security group rule may shut out.
        builder.Services.AddSecurityGroupRefresh(builder.Configuration);
        var host = builder.AddFunctionHost(functionTypes ?? FunctionCatalog.TypesIn(typeof(Extensions).Assembly));
        // An invocation waiting out an outage holds one of the WORKER_COUNT threads, so its backoff is the Worker's
        // resume time: capped at 0.5 s (a 5 s cap made the 6th attempt wait 2.5-3.2 s after PostgreSQL was back,
        // issue 17), with more attempts to cover as long an outage (about 9 s) before Hangfire's retry.
        builder.Services.AddCruddurData(builder.Configuration, host.Options.PoolSize,
            new RetryBounds { MaxRetryAttempts = 20, MaxDelay = TimeSpan.FromMilliseconds(500) });
        builder.Services.AddSingleton<ActivityStore>();
        builder.Services.AddSingleton<UserStore>();
        builder.Services.AddActivityPurge();
        builder.Services.AddCruddurTelemetry(builder.Configuration, "cruddur-worker");
        builder.Services.AddHealthChecks().AddCheck<WorkerHealthCheck>("hangfire-server-and-postgres");
        if (builder.Configuration[HealthEndpoint.UrlSetting] is { Length: > 0 } healthUrl)
        {
            builder.Services.AddHostedService(provider => ActivatorUtilities.CreateInstance<HealthEndpoint>(provider, healthUrl));
        }
        return host;
    }
}

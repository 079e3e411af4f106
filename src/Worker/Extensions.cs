using Cruddur.Shared.Data;
using Cruddur.Shared.Observability;
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
        var host = builder.AddFunctionHost(functionTypes ?? FunctionCatalog.TypesIn(typeof(Extensions).Assembly));
        builder.Services.AddCruddurData(builder.Configuration, host.Options.PoolSize);
        builder.Services.AddSingleton<ActivityStore>();
        builder.Services.AddSingleton<UserStore>();
        builder.Services.AddActivityPurge();
        builder.Services.AddSecurityGroupRefresh(builder.Configuration);
        builder.Services.AddCruddurTelemetry(builder.Configuration, "cruddur-worker");
        builder.Services.AddHealthChecks().AddCheck<WorkerHealthCheck>("hangfire-server-and-postgres");
        if (builder.Configuration[HealthEndpoint.UrlSetting] is { Length: > 0 } healthUrl)
        {
            builder.Services.AddHostedService(provider => ActivatorUtilities.CreateInstance<HealthEndpoint>(provider, healthUrl));
        }
        return host;
    }
}

using System.Text.Json;
using Cruddur.Api.Activities;
using Cruddur.Api.Authentication;
using Cruddur.Api.CrossOrigin;
using Cruddur.Api.Dashboard;
using Cruddur.Api.Health;
using Cruddur.Api.Jobs;
using Cruddur.Api.RateLimiting;
using Cruddur.Api.Users;
using Cruddur.Shared.Configuration;
using Cruddur.Shared.Data;
using Cruddur.Shared.Jobs;
using Cruddur.Shared.Observability;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Cruddur.Api;

public static class Extensions
{
    /// <summary>
    /// The Api's main pool unless <c>DB_POOL_SIZE</c> says otherwise. Npgsql's own default (100) alone would fill a stock
    /// PostgreSQL's max_connections=100; this, the read pool (10) and a Worker's (30 + 10) stay under it.
    /// </summary>
    public const int DefaultPoolSize = 40;

    /// <summary>The Api's services: data access, the job client (it enqueues, never executes), health, OpenAPI.</summary>
    public static WebApplicationBuilder AddCruddurApi(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        builder.Logging.AddCruddurConsole(builder.Configuration);
        services.AddCruddurData(builder.Configuration, DefaultPoolSize);
        services.AddCruddurJobStorage(builder.Configuration);
        HangfireGlobals.Configure(builder.Configuration);
        services.AddSingleton(TimeProvider.System);
        services.AddSettings<UserCacheOptions>(builder.Configuration);
        services.AddSingleton(provider => new UserDirectory(
            provider.GetRequiredService<Db>(), provider.GetRequiredService<TimeProvider>(), provider.GetRequiredService<UserCacheOptions>().TimeToLive));
        services.AddSettings<ActivityBatchOptions>(builder.Configuration);
        services.AddSingleton<ActivityBatchMetrics>();
        services.AddSingleton<ActivityBatcher>();
        services.AddSingleton<IdempotencyKeys>();
        services.AddSingleton<PostActivityHandler>();
        services.AddHostedService(provider => provider.GetRequiredService<ActivityBatcher>());
        services.AddSingleton<ActivityReader>();
        var feedCache = services.AddSettings<FeedCacheOptions>(builder.Configuration);
        services.AddOutputCache(cache => cache.AddPolicy(FeedCachePolicy.Name, new FeedCachePolicy(feedCache.TimeToLive)));
        services.AddCognitoUsersIngress(builder.Configuration);
        services.AddCruddurDashboard(builder.Configuration);
        services.AddFrontendCors(builder.Configuration);
        services.AddCognitoAuthentication(builder.Configuration, builder.Environment);
        services.AddPostRateLimit(builder.Configuration);
        services.AddCruddurTelemetry(builder.Configuration, "cruddur-api",
            tracing => tracing.AddAspNetCoreInstrumentation(),
            metrics => metrics.AddMeter("Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel"));

        // The contract's field names are snake_case, as the seed's JSON.
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
        services.AddProblemDetails();
        services.AddExceptionHandler<DatabaseUnavailableHandler>();
        services.AddHealthChecks().AddCheck<ReadinessCheck>("postgres-and-hangfire", tags: ["ready"]);
        services.AddOpenApi();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = 1024 * 1024;
            kestrel.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(10);
        });
        return builder;
    }

    /// <summary>The endpoints, grouped per feature, the dashboard and health.</summary>
    public static WebApplication MapCruddurApi(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        // Before authentication: a preflight carries no token, and is answered here (only the /api endpoints have a policy).
        app.UseCors();
        app.UseCognitoAuthentication();
        // After authentication (a signed-in post takes from its user's bucket), before the endpoint reads the body.
        app.UseRateLimiter();
        app.UseOutputCache();
        app.MapActivitiesApi();
        app.MapJobsApi();
        app.MapCruddurDashboard();
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready"), ResponseWriter = ReadinessCheck.WriteAsync });
        app.MapOpenApi();
        return app;
    }
}

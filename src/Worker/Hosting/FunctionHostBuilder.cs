using Cruddur.Shared.Data;
using Cruddur.Shared.Jobs;
using Cruddur.Shared.Resilience;
using Cruddur.Worker.Hosting.Middleware;
using Hangfire;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Cruddur.Worker.Hosting;

/// <summary>Adds middleware to the function host: <c>builder.AddFunctionHost(types).UseMiddleware&lt;T&gt;()</c>.</summary>
public sealed class FunctionHostBuilder
{
    private readonly List<Type> _middleware =
        [typeof(TelemetryMiddleware), typeof(InvocationLoggingMiddleware), typeof(ErrorClassificationMiddleware)];

    internal FunctionHostBuilder(IServiceCollection services) => Services = services;

    public IServiceCollection Services { get; }

    internal IReadOnlyList<Type> Middleware => _middleware;

    /// <summary>Runs <typeparamref name="T"/> around every invocation, after the ones added before it.</summary>
    public FunctionHostBuilder UseMiddleware<T>()
        where T : class, IFunctionMiddleware
    {
        _middleware.Add(typeof(T));
        return this;
    }
}

public static class FunctionHostExtensions
{
    /// <summary>
    /// The function host: discovers the functions on <paramref name="functionTypes"/> (a declaration error
    /// throws <see cref="FunctionDeclarationException"/> here), migrates and seeds the database at startup,
    /// schedules the timers and runs a Hangfire server on every queue the functions listen on.
    /// </summary>
    public static FunctionHostBuilder AddFunctionHost(this IHostApplicationBuilder builder, IEnumerable<Type> functionTypes)
    {
        var configuration = builder.Configuration;
        var services = builder.Services;
        var options = FunctionHostOptions.From(configuration);
        var catalog = FunctionCatalog.Discover(functionTypes, configuration);
        var host = new FunctionHostBuilder(services);

        RetryTransientFailuresFilter.Install(options.RetryAttempts);
        services.AddSingleton(options);
        services.AddSingleton(catalog);
        services.AddSingleton(_ => new FunctionPipeline(host.Middleware));
        services.AddScoped<IFunctionDispatcher, FunctionDispatcher>();

        services.AddCruddurData(configuration, options.PoolSize);
        // An invocation waiting out an outage holds one of the WORKER_COUNT threads, so its backoff is the Worker's
        // resume time: capped at 0.5 s (the default's 5 s cap made the 6th attempt wait 2.5-3.2 s after PostgreSQL
        // was back, issue 17), with more attempts to cover as long an outage (about 9 s) before Hangfire's retry.
        services.AddDatabaseResilience(new RetryBounds { MaxRetryAttempts = 20, MaxDelay = TimeSpan.FromMilliseconds(500) });
        services.AddCruddurJobStorage(configuration, options.DatabaseOutageWait);

        // Hosted services start in this order: the schema before the timers, both before any job is fetched.
        services.AddHostedService<DatabaseStartup>();
        services.AddHostedService<TimerSchedule>();
        services.AddHangfireServer((_, server) =>
        {
            server.ServerName = $"{Environment.MachineName}:{Environment.ProcessId}";
            server.WorkerCount = options.WorkerCount;
            server.Queues = catalog.Queues;
            server.SchedulePollingInterval = options.SchedulePollInterval;
            // Stop fetching at once; give running invocations the grace period, then cancel them.
            server.StopTimeout = options.ShutdownGrace;
            server.ShutdownTimeout = TimeSpan.FromSeconds(5);
        });
        services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownGrace + TimeSpan.FromSeconds(8));
        return host;
    }
}

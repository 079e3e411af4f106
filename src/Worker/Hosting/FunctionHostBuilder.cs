using Cruddur.HangfireOverrides;
using Cruddur.Shared.Configuration;
using Cruddur.Shared.Jobs;
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

    internal FunctionHostBuilder(IServiceCollection services, FunctionHostOptions options)
    {
        Services = services;
        Options = options;
    }

    public IServiceCollection Services { get; }

    internal FunctionHostOptions Options { get; }

    internal IReadOnlyList<Type> Middleware => _middleware;

    /// <summary>
    /// Runs <typeparamref name="T"/> around every invocation, after the ones added before it. It is created once, from the
    /// root container: an invocation's scoped services are in <see cref="FunctionContext.InstanceServices"/>.
    /// </summary>
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
    /// schedules the timers and runs a Hangfire server on every queue the functions listen on. The application
    /// registers its data layer itself (<c>AddCruddurData</c>: the host's job storage and migrator need it).
    /// </summary>
    public static FunctionHostBuilder AddFunctionHost(this IHostApplicationBuilder builder, IEnumerable<Type> functionTypes)
    {
        var configuration = builder.Configuration;
        var services = builder.Services;
        var options = services.AddSettings<FunctionHostOptions>(configuration);
        var catalog = FunctionCatalog.Discover(functionTypes, configuration);
        var host = new FunctionHostBuilder(services, options);

        HangfireGlobals.Configure(configuration, () => new RetryTransientFailuresFilter(options.RetryAttempts));
        services.AddSingleton(catalog);
        services.AddSingleton(provider => new FunctionPipeline(host.Middleware, provider));
        services.AddScoped<IFunctionDispatcher, FunctionDispatcher>();
        // Before the database's startup and the Hangfire server: a function or middleware the container cannot create stops
        // the Worker before it takes a job.
        services.AddHostedService<FunctionActivationCheck>();

        // Hangfire's own writes go through the asynchronous-commit pool, and its server changes a job's state in one
        // transaction (src/HangfireOverrides).
        services.AddHangfireBookkeepingPool(configuration, options.PoolSize);
        services.AddCruddurJobStorage(configuration, options.DatabaseOutageWait, HangfireBookkeepingPool.Resolve);
        services.AddOneTransactionStateChanges();
        // A job another process commits (the Api's posts) wakes a waiting fetcher at once; the queue poll is the fallback.
        services.AddNewJobListenerConnection(configuration);
        services.AddNewJobListener(NewJobListenerConnection.Resolve, catalog.Queues);

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

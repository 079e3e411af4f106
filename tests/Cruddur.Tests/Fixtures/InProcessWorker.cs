using Cruddur.Shared.Jobs;
using Cruddur.Worker;
using Cruddur.Worker.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cruddur.Tests.Fixtures;

/// <summary>
/// The Worker running inside the test process against a test database, registered as Program.cs does
/// (<c>AddCruddurWorker</c>): the real discovery, middleware, Hangfire server and Postgres storage, with the
/// functions a test chooses.
/// </summary>
public sealed class InProcessWorker : IAsyncDisposable
{
    private readonly IHost _host;

    private InProcessWorker(IHost host, LogCollector logs)
    {
        _host = host;
        Logs = logs;
    }

    public IServiceProvider Services => _host.Services;

    public LogCollector Logs { get; }

    public IJobQueue Jobs => Services.GetRequiredService<IJobQueue>();

    /// <summary>Settings that make a test quick: fast polling, a short grace period, few threads.</summary>
    public static Dictionary<string, string?> QuickSettings(string connectionUrl) => new()
    {
        ["CONNECTION_URL"] = connectionUrl,
        ["MIGRATION_CONNECTION_URL"] = TestDatabase.MigrationUrlFor(connectionUrl),
        ["HANGFIRE_QUEUE_POLL_MS"] = "50",
        ["HANGFIRE_SCHEDULE_POLL_SECONDS"] = "1",
        ["WORKER_COUNT"] = "4",
        ["WORKER_SHUTDOWN_GRACE_SECONDS"] = "10",
    };

    public static async Task<InProcessWorker> StartAsync(
        string connectionUrl,
        IEnumerable<Type> functionTypes,
        Action<FunctionHostBuilder>? configure = null,
        IReadOnlyDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? services = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, EnvironmentName = "Test" });
        // As a Development host checks scopes: a middleware (created once) taking a scoped service fails the test that starts
        // the Worker, rather than sharing one instance among invocations. (Not ValidateOnBuild: the host's own startup
        // check of what its functions need is what the tests hold, as production runs without it.)
        builder.ConfigureContainer(new DefaultServiceProviderFactory(new ServiceProviderOptions { ValidateScopes = true }));
        var configuration = QuickSettings(connectionUrl);
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            configuration[key] = value;
        }
        builder.Configuration.AddInMemoryCollection(configuration);
        var host = builder.AddCruddurWorker(functionTypes);
        configure?.Invoke(host);
        // The Worker's registration logs to the console; a test reads its logs from the collector instead.
        var logs = new LogCollector();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Services.AddSingleton<InvocationRecorder>();
        services?.Invoke(builder.Services);
        var app = builder.Build();
        await app.StartAsync();
        return new InProcessWorker(app, logs);
    }

    public Task StopAsync() => _host.StopAsync();

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}

/// <summary>What test functions and middleware saw, in order.</summary>
public sealed class InvocationRecorder
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _events = new();

    public IReadOnlyList<string> Events => [.. _events];

    public void Record(string what) => _events.Enqueue(what);

    /// <summary>Waits until the events recorded meet <paramref name="condition"/>; fails the test, listing them, if they never do.</summary>
    public Task WaitForAsync(Func<IReadOnlyList<string>, bool> condition, string awaited = "the recorded events") =>
        Eventually.ReachesAsync(() => Events, condition, awaited);
}

using Hangfire;
using Hangfire.Client;
using Hangfire.Common;
using Hangfire.Server;
using Hangfire.States;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Cruddur.HangfireOverrides;

public static class HangfireOverridesServiceCollectionExtensions
{
    /// <summary>
    /// Makes the container's Hangfire server change a job's state with <see cref="OneTransactionStateChanger"/> (on a
    /// <see cref="BatchingPostgreSqlStorage"/>; any other storage takes Hangfire's own path). For a process that runs jobs.
    /// </summary>
    public static IServiceCollection AddOneTransactionStateChanges(this IServiceCollection services)
    {
        // Hangfire.NetCore gives its server the container's job factory, performer and state changer only when all three
        // are registered: the first two are the server's own defaults.
        services.AddSingleton<IBackgroundJobFactory>(provider => new BackgroundJobFactory(provider.GetRequiredService<IJobFilterProvider>()));
        services.AddSingleton<IBackgroundJobPerformer>(provider =>
            new BackgroundJobPerformer(provider.GetRequiredService<IJobFilterProvider>(), provider.GetRequiredService<JobActivator>()));
        services.AddSingleton<IBackgroundJobStateChanger>(provider => new OneTransactionStateChanger(provider.GetRequiredService<IJobFilterProvider>()));
        return services;
    }

    /// <summary>
    /// Wakes the container's Hangfire server as soon as another process commits a job to one of <paramref name="queues"/>
    /// (<see cref="NewJobListener"/>), over one connection of <paramref name="dataSource"/>'s held for the purpose.
    /// </summary>
    public static IServiceCollection AddNewJobListener(
        this IServiceCollection services, Func<IServiceProvider, NpgsqlDataSource> dataSource, IReadOnlyCollection<string> queues)
    {
        services.AddHostedService(provider =>
            new NewJobListener(dataSource(provider), queues, provider.GetRequiredService<ILogger<NewJobListener>>()));
        return services;
    }
}

using Cruddur.Shared.Data;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Cruddur.Worker.Hosting;

/// <summary>
/// Where the Worker's <see cref="Cruddur.HangfireOverrides.NewJobListener"/> connects: the main pool's settings (its
/// keepalives among them: a host that stops answering ends the listener's wait), but no pool. The listener
/// holds its connection for the process's life, so it is never one a function or Hangfire's bookkeeping waits for, and
/// a connection a failover broke is closed, not pooled.
/// </summary>
internal static class NewJobListenerConnection
{
    private const string Key = "new-job-listener";

    public static IServiceCollection AddNewJobListenerConnection(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddKeyedSingleton(Key, (provider, _) =>
        {
            var connection = DataServiceCollectionExtensions.MainConnection(configuration);
            connection.Pooling = false;
            connection.ApplicationName = $"{connection.ApplicationName} (new-job listener)";
            return DataServiceCollectionExtensions.BuildDataSource(connection, provider);
        });
        return services;
    }

    public static NpgsqlDataSource Resolve(IServiceProvider provider) => provider.GetRequiredKeyedService<NpgsqlDataSource>(Key);
}

using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Cruddur.Shared.Data;

public static class DataServiceCollectionExtensions
{
    /// <summary>The configuration key (an environment variable) holding the database URL.</summary>
    public const string ConnectionUrlKey = "CONNECTION_URL";

    /// <summary>
    /// Registers one <see cref="NpgsqlDataSource"/> for the process (from <c>CONNECTION_URL</c>), the
    /// templates, <see cref="Db"/> and the <see cref="DatabaseMigrator"/>. <paramref name="maxPoolSize"/> sizes the
    /// pool for the process (the Worker sizes it with its worker count); <c>DB_POOL_SIZE</c> overrides it.
    /// </summary>
    public static IServiceCollection AddCruddurData(this IServiceCollection services, IConfiguration configuration, int? maxPoolSize = null)
    {
        services.AddSingleton(provider =>
        {
            var connection = new NpgsqlConnectionStringBuilder(ConnectionStringFrom(configuration));
            var poolSize = configuration.GetValue<int?>("DB_POOL_SIZE") ?? maxPoolSize;
            if (poolSize is > 0)
            {
                connection.MaxPoolSize = poolSize.Value;
            }
            var builder = new NpgsqlDataSourceBuilder(connection.ConnectionString);
            builder.UseLoggerFactory(provider.GetRequiredService<ILoggerFactory>());
            return builder.Build();
        });
        services.AddSingleton<SqlTemplates>();
        services.AddSingleton<Db>();
        services.AddSingleton<DatabaseMigrator>();
        return services;
    }

    /// <summary>The Npgsql connection string for <c>CONNECTION_URL</c>, with a clear error when it is missing.</summary>
    public static string ConnectionStringFrom(IConfiguration configuration)
    {
        var url = configuration[ConnectionUrlKey];
        if (string.IsNullOrWhiteSpace(url))
        {
            throw new InvalidOperationException(
                $"{ConnectionUrlKey} is not set. Export it (postgresql://user:password@host:5432/cruddur) or start everything with bin/up.");
        }
        var builder = ConnectionUrl.Parse(url);
        builder.ApplicationName ??= AppDomain.CurrentDomain.FriendlyName;
        // Hot statements (the inserts, Hangfire's fetch) run prepared: +20% measured on this kind of machine.
        if (builder.MaxAutoPrepare == 0)
        {
            builder.MaxAutoPrepare = 64;
        }
        return builder.ConnectionString;
    }
}

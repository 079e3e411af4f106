using Amazon.Runtime.Credentials;
using Cruddur.Shared.Configuration;
using Cruddur.Shared.Resilience;
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
    /// The configuration key of the migration role's URL: the role that owns the schemas and alone may change them
    /// (the Worker's startup migration, <c>bin/db-schema-load</c>). Unset, the migration uses <c>CONNECTION_URL</c>.
    /// </summary>
    public const string MigrationConnectionUrlKey = "MIGRATION_CONNECTION_URL";

    /// <summary>The service key of the migration role's data source (<see cref="MigrationConnectionUrlKey"/>).</summary>
    public const string MigrationKey = "migration";

    /// <summary>The service key of the read pool <see cref="Db"/>'s JSON reads use.</summary>
    public const string ReadsKey = "reads";

    /// <summary>
    /// Registers one <see cref="NpgsqlDataSource"/> for the process (from <c>CONNECTION_URL</c>), a read pool
    /// beside it (keyed <see cref="ReadsKey"/>), the migration role's (keyed <see cref="MigrationKey"/>), the templates,
    /// <see cref="Db"/>, the <see cref="DatabaseMigrator"/> and the database's retry pipelines (<see cref="DatabaseResilience"/>).
    /// <paramref name="maxPoolSize"/> sizes the main pool for the process (the Worker sizes it with its worker
    /// count); <c>DB_POOL_SIZE</c> overrides it, <c>DB_READ_POOL_SIZE</c> the read pool's. <paramref name="writeBounds"/>
    /// bounds <see cref="Retries.DatabaseWrite"/> (<see cref="RetryBounds"/>' defaults when null).
    /// </summary>
    public static IServiceCollection AddCruddurData(this IServiceCollection services, IConfiguration configuration, int? maxPoolSize = null, RetryBounds? writeBounds = null)
    {
        var settings = services.AddSettings<DatabaseOptions>(configuration);
        services.AddSingleton(provider => BuildDataSource(MainConnection(configuration, maxPoolSize), provider));
        services.AddKeyedSingleton(ReadsKey, (provider, _) =>
        {
            var connection = new NpgsqlConnectionStringBuilder(ConnectionStringFrom(configuration))
            {
                MaxPoolSize = settings.ReadPoolSize,
            };
            ConfigureForReads(connection);
            return BuildDataSource(connection, provider);
        });
        services.AddHostedService<DatabaseTlsCheck>();
        services.AddSingleton<SqlTemplates>();
        services.AddSingleton<Db>();
        services.AddKeyedSingleton(MigrationKey, (provider, _) =>
            string.IsNullOrWhiteSpace(configuration[MigrationConnectionUrlKey])
                ? provider.GetRequiredService<NpgsqlDataSource>() // one URL for everything (a developer's machine)
                // Used at startup and by bin/db-schema-load: the owner's connections are not kept idle.
                : BuildDataSource(new NpgsqlConnectionStringBuilder(ConnectionStringFrom(configuration, MigrationConnectionUrlKey)) { MaxPoolSize = 4, MinPoolSize = 0 }, provider));
        services.AddSingleton(_ => new RdsAuthTokenGenerator(
            DefaultAWSCredentialsIdentityResolver.GetCredentials(clientConfig: null), configuration["AWS_REGION"] ?? configuration["AWS_DEFAULT_REGION"] ?? Aws.AwsClientConfiguration.DefaultRegion));
        services.AddSingleton(provider => new DatabaseMigrator(
            provider.GetRequiredKeyedService<NpgsqlDataSource>(MigrationKey),
            provider.GetRequiredService<Polly.Registry.ResiliencePipelineProvider<string>>(),
            provider.GetRequiredService<ILogger<DatabaseMigrator>>()));
        services.AddDatabaseResilience(writeBounds);
        return services;
    }

    /// <summary>
    /// Makes a connection string one for <see cref="Db"/>'s JSON reads, which can only read (see there):
    /// <list type="bullet">
    /// <item>No Reset On Close: Npgsql otherwise sends seven statements before each reuse of a pooled connection
    /// (<c>SET SESSION AUTHORIZATION DEFAULT; RESET ALL; CLOSE ALL; UNLISTEN *; SELECT pg_advisory_unlock_all();
    /// DISCARD SEQUENCES; DISCARD TEMP</c>) to undo session state a read never makes.</item>
    /// <item>plan_cache_mode=force_generic_plan: the feed's <c>LIMIT @limit</c> makes PostgreSQL's generic plan look
    /// 20x dearer than a custom one, so it planned each call (0.1-0.3 ms, as much as executing). A template read
    /// here must keep its generic plan good: home.sql's constant inner LIMIT does (a test checks its plan).</item>
    /// </list>
    /// </summary>
    public static void ConfigureForReads(NpgsqlConnectionStringBuilder connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        connection.NoResetOnClose = true;
        connection.Options = $"{connection.Options} -c plan_cache_mode=force_generic_plan".Trim();
        connection.ApplicationName = $"{connection.ApplicationName} (reads)";
    }

    /// <summary>
    /// The main pool's connection string: <c>CONNECTION_URL</c>'s, sized <c>DB_POOL_SIZE</c>, else
    /// <paramref name="maxPoolSize"/>, else Npgsql's default. A process builds a variant of it for a pool of its own.
    /// </summary>
    public static NpgsqlConnectionStringBuilder MainConnection(IConfiguration configuration, int? maxPoolSize = null)
    {
        var connection = new NpgsqlConnectionStringBuilder(ConnectionStringFrom(configuration));
        var poolSize = Settings.Read<DatabaseOptions>(configuration).PoolSize ?? maxPoolSize;
        if (poolSize is > 0)
        {
            connection.MaxPoolSize = poolSize.Value;
        }
        return connection;
    }

    /// <summary>
    /// A data source for <paramref name="connection"/>, logging to the host's loggers, whose sockets give up on a host that
    /// stopped acknowledging (<see cref="NpgsqlTcpUserTimeout"/>); with <c>DATABASE_AUTH=iam</c> each
    /// new connection's password is an RDS IAM token, and a URL that carries a password is refused.
    /// </summary>
    public static NpgsqlDataSource BuildDataSource(NpgsqlConnectionStringBuilder connection, IServiceProvider provider)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(provider);
        var settings = provider.GetRequiredService<DatabaseOptions>();
        if (settings.UsesIam && !string.IsNullOrEmpty(connection.Password))
        {
            throw new InvalidOperationException(
                $"DATABASE_AUTH=iam, but the database URL for {connection.Username}@{connection.Host} carries a password: leave it out (each connection's password is an RDS IAM token).");
        }
        // DatabaseNetwork's minimum, within a pool sized smaller (Npgsql refuses a minimum above the maximum).
        connection.MinPoolSize = Math.Min(connection.MinPoolSize, connection.MaxPoolSize);
        var builder = new NpgsqlDataSourceBuilder(connection.ConnectionString).UseTcpUserTimeout();
        builder.UseLoggerFactory(provider.GetRequiredService<ILoggerFactory>());
        if (settings.UsesIam)
        {
            builder.UseRdsIamAuthentication(provider.GetRequiredService<RdsAuthTokenGenerator>());
        }
        return builder.Build();
    }

    /// <summary>The Npgsql connection string for <c>CONNECTION_URL</c> (or another URL setting), with a clear error when it is missing.</summary>
    public static string ConnectionStringFrom(IConfiguration configuration, string key = ConnectionUrlKey)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var url = configuration[key];
        if (string.IsNullOrWhiteSpace(url))
        {
            throw new InvalidOperationException(
                $"{key} is not set. Export it (postgresql://user:password@host:5432/cruddur) or start everything with bin/up.");
        }
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = ConnectionUrl.Parse(url);
        }
        catch (FormatException e)
        {
            throw new FormatException($"{key}: {e.Message}", e);
        }
        DatabaseTls.Apply(builder, configuration[DatabaseTls.CaBundleKey]);
        DatabaseNetwork.Apply(builder);
        builder.ApplicationName ??= AppDomain.CurrentDomain.FriendlyName;
        // Hot statements (the inserts, Hangfire's fetch) run prepared: +20% measured on this kind of machine.
        if (builder.MaxAutoPrepare == 0)
        {
            builder.MaxAutoPrepare = 64;
        }
        return builder.ConnectionString;
    }
}

using System.Diagnostics;
using Cruddur.Shared.Data;
using Cruddur.Shared.Resilience;
using Cruddur.Tests.Fixtures;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Cruddur.Tests.Data;

/// <summary>The network bounds every pool gets from CONNECTION_URL (<see cref="DatabaseNetwork"/>).</summary>
public sealed class DatabaseNetworkTests(PostgresServer server)
{
    [Fact]
    public void A_connection_url_gets_the_keepalive_timeouts_and_pool_pruning_and_keeps_its_own_connect_timeout()
    {
        var plain = new NpgsqlConnectionStringBuilder(DataServiceCollectionExtensions.ConnectionStringFrom(Configuration("postgresql://u:p@127.0.0.1:5432/cruddur")));
        var chosen = new NpgsqlConnectionStringBuilder(DataServiceCollectionExtensions.ConnectionStringFrom(Configuration("postgresql://u:p@127.0.0.1:5432/cruddur?connect_timeout=12")));

        Assert.Equal((3, 5, 1000, 10, 60, 10), (plain.Timeout, plain.CommandTimeout, plain.CancellationTimeout, plain.KeepAlive, plain.ConnectionIdleLifetime, plain.ConnectionPruningInterval));
        Assert.Equal(12, chosen.Timeout);
        Assert.Equal(5, chosen.CommandTimeout);
    }

    [Fact]
    public async Task A_statement_that_outlasts_the_command_timeout_fails_as_transient_within_seconds_and_the_pool_serves_the_next()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var services = new ServiceCollection().AddLogging().AddCruddurData(Configuration(db.Url)).BuildServiceProvider();
        var dataSource = services.GetRequiredService<NpgsqlDataSource>();

        var clock = Stopwatch.StartNew();
        await using var sleep = dataSource.CreateCommand("SELECT pg_sleep(30)");
        var error = await Assert.ThrowsAnyAsync<NpgsqlException>(() => sleep.ExecuteScalarAsync());
        var waited = clock.Elapsed;

        Assert.InRange(waited, TimeSpan.FromSeconds(DatabaseNetwork.CommandTimeoutSeconds), TimeSpan.FromSeconds(DatabaseNetwork.CommandTimeoutSeconds + 3));
        Assert.True(TransientErrors.IsTransient(error), $"not transient (so not a 503): {TransientErrors.Describe(error)}");
        await using var next = dataSource.CreateCommand("SELECT 1");
        Assert.Equal(1, await next.ExecuteScalarAsync());
    }

    private static IConfiguration Configuration(string url) =>
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [DataServiceCollectionExtensions.ConnectionUrlKey] = url }).Build();
}

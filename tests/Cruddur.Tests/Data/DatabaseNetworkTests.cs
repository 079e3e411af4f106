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

        Assert.Equal((3, 5, 1000, 10, 60, 10, 4), (plain.Timeout, plain.CommandTimeout, plain.CancellationTimeout, plain.KeepAlive, plain.ConnectionIdleLifetime, plain.ConnectionPruningInterval, plain.MinPoolSize));
        Assert.Equal((true, 3, 1), (plain.TcpKeepAlive, plain.TcpKeepAliveTime, plain.TcpKeepAliveInterval));
        Assert.Equal(GssEncryptionMode.Disable, plain.GssEncryptionMode);
        Assert.Equal(12, chosen.Timeout);
        Assert.Equal(5, chosen.CommandTimeout);
    }

    [Fact]
    public async Task A_pool_sized_below_the_kept_minimum_serves_and_keeps_to_its_size()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [DataServiceCollectionExtensions.ConnectionUrlKey] = db.Url,
            ["DB_POOL_SIZE"] = "2",
        }).Build();
        await using var services = new ServiceCollection().AddLogging().AddCruddurData(configuration).BuildServiceProvider();
        var dataSource = services.GetRequiredService<NpgsqlDataSource>();

        await using var first = await dataSource.OpenConnectionAsync();
        await using var second = await dataSource.OpenConnectionAsync();
        await using var query = new NpgsqlCommand("SELECT 1", first);

        Assert.Equal(1, await query.ExecuteScalarAsync());
        var pool = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString);
        Assert.Equal((2, 2), (pool.MinPoolSize, pool.MaxPoolSize));
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

    [Fact]
    public async Task Every_open_to_a_server_that_accepts_and_never_answers_fails_within_the_connect_timeout()
    {
        // As a failover's old address or a silent network meets it; synchronous, as Hangfire opens. Npgsql's GSS-encryption
        // fallback hung 3-17 of 200 such opens for good before DatabaseNetwork turned it off.
        await using var silent = new TcpForwarder(server.Host, server.Port);
        silent.Start();
        silent.Stall();
        var url = $"postgresql://postgres:secret@127.0.0.1:{silent.Port}/postgres?connect_timeout=1";
        var connection = new NpgsqlConnectionStringBuilder(DataServiceCollectionExtensions.ConnectionStringFrom(Configuration(url))) { Pooling = false }.ConnectionString;

        var opens = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => Task.Factory.StartNew(() =>
        {
            var clock = Stopwatch.StartNew();
            try
            {
                using var open = new NpgsqlConnection(connection);
                open.Open();
                return "opened";
            }
            catch (NpgsqlException)
            {
                return clock.Elapsed < TimeSpan.FromSeconds(5) ? "failed within 5 s" : "failed late";
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).WaitAsync(TimeSpan.FromSeconds(10))
            .ContinueWith(open => open.IsCompletedSuccessfully ? open.Result : "still waiting after 10 s", TaskScheduler.Default)));

        Assert.Equal(["failed within 5 s"], opens.Distinct());
    }

    private static IConfiguration Configuration(string url) =>
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [DataServiceCollectionExtensions.ConnectionUrlKey] = url }).Build();
}

using System.Diagnostics;
using System.Reflection;
using Cruddur.Shared.Data;
using Cruddur.Tests.Fixtures;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Cruddur.Tests.Data;

/// <summary>Every pool's sockets give up on a host that stopped acknowledging (<see cref="NpgsqlTcpUserTimeout"/>).</summary>
public sealed class NpgsqlTcpUserTimeoutTests(PostgresServer server)
{
    [Fact]
    public void The_Npgsql_in_use_is_the_version_whose_internals_it_reads()
    {
        var version = typeof(NpgsqlConnection).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];

        Assert.True(version == NpgsqlTcpUserTimeout.NpgsqlVersion,
            $"Npgsql is {version}; src/Shared/Data/NpgsqlTcpUserTimeout.cs reads the socket of Npgsql {NpgsqlTcpUserTimeout.NpgsqlVersion}'s " +
            "NpgsqlConnection.Connector._socket: re-check it (or drop it, if Npgsql now has a Tcp User Timeout setting), then update NpgsqlVersion.");
        Assert.True(NpgsqlTcpUserTimeout.Supported, "NpgsqlConnection.Connector._socket is gone");
    }

    [Fact]
    public async Task A_connection_from_the_processs_pool_carries_the_timeout()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var services = new ServiceCollection().AddLogging().AddCruddurData(Configuration(db.Url)).BuildServiceProvider();
        await using var connection = await services.GetRequiredService<NpgsqlDataSource>().OpenConnectionAsync();

        Assert.Equal((int)NpgsqlTcpUserTimeout.Timeout.TotalMilliseconds, NpgsqlTcpUserTimeout.Read(connection));
    }

    [Fact]
    public async Task A_statement_without_a_timeout_sent_after_the_packets_stopped_fails_within_the_user_timeout()
    {
        // As a Worker's Hangfire fetch after a failover: sent into the silence, so keepalive never probes (data is in flight),
        // and Hangfire.PostgreSql gives it no command timeout.
        Assert.SkipUnless(LoopbackPacketDrop.Available, "dropping packets needs root and tc");
        await using var endpoint = new TcpForwarder(server.Host, server.Port);
        endpoint.Start();
        var url = $"postgresql://postgres:{Uri.EscapeDataString(PostgresServer.Password)}@127.0.0.1:{endpoint.Port}/postgres";
        await using var services = new ServiceCollection().AddLogging().AddCruddurData(Configuration(url)).BuildServiceProvider();
        // Not disposed while its statement waits: closing a connection in use waits for the statement.
        var connection = await services.GetRequiredService<NpgsqlDataSource>().OpenConnectionAsync();
        await endpoint.SilenceAsync();

        var clock = Stopwatch.StartNew();
        var command = new NpgsqlCommand("SELECT 1", connection) { CommandTimeout = 0 };
        var running = Task.Factory.StartNew(command.ExecuteScalar, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var ended = await Task.WhenAny(running, Task.Delay(TimeSpan.FromSeconds(40))) == running;
        if (ended)
        {
            await connection.DisposeAsync();
        }

        var bound = NpgsqlTcpUserTimeout.Timeout + TimeSpan.FromSeconds(6); // the kernel looks at it when it retransmits
        Assert.True(ended, $"the statement was still waiting {clock.Elapsed.TotalSeconds:0} s after it was sent into the silence");
        Assert.IsAssignableFrom<NpgsqlException>(running.Exception?.InnerException);
        Assert.True(clock.Elapsed < bound, $"the statement failed {clock.Elapsed.TotalSeconds:0.0} s after it was sent (bound {bound.TotalSeconds} s)");
    }

    private static IConfiguration Configuration(string url) =>
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [DataServiceCollectionExtensions.ConnectionUrlKey] = url }).Build();
}

using System.Diagnostics;
using Cruddur.Shared.Data;
using Cruddur.Tests.Fixtures;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Cruddur.Tests.Data;

/// <summary>
/// A statement with no command timeout, as every one of Hangfire.PostgreSql's is (Dapper.AOT sends <c>CommandTimeout = 0</c>),
/// on a connection of the process's pool, when the server's host is lost and its packets are dropped (a Multi-AZ failover):
/// only the kernel can end it, by TCP keepalive (<see cref="DatabaseNetwork.TcpKeepAliveSeconds"/>) if it was sent before,
/// by TCP_USER_TIMEOUT (<see cref="NpgsqlTcpUserTimeout"/>) if it was sent into the silence. Without them the statement
/// waited until the test gave up, and a Worker's fetches to a lost primary for good.
/// </summary>
public sealed class LostHostTests(PostgresServer server)
{
    // 12 s, and the kernel's granularity: it looks at the user timeout when it retransmits.
    private static readonly TimeSpan Bound = NpgsqlTcpUserTimeout.Timeout + TimeSpan.FromSeconds(6);

    [Fact]
    public Task A_statement_in_flight_when_the_packets_stop_fails_within_the_keepalive_bound() =>
        AssertEndsAsync("SELECT pg_sleep(120)", sentBeforeTheDrop: true);

    [Fact]
    public Task A_statement_sent_after_the_packets_stopped_fails_within_the_user_timeout() =>
        AssertEndsAsync("SELECT 1", sentBeforeTheDrop: false);

    private async Task AssertEndsAsync(string sql, bool sentBeforeTheDrop)
    {
        Assert.SkipUnless(LoopbackPacketDrop.Available, "dropping packets needs root and tc");
        await using var endpoint = new TcpForwarder(server.Host, server.Port);
        endpoint.Start();
        var url = $"postgresql://postgres:{Uri.EscapeDataString(PostgresServer.Password)}@127.0.0.1:{endpoint.Port}/postgres";
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { [DataServiceCollectionExtensions.ConnectionUrlKey] = url }).Build();
        await using var services = new ServiceCollection().AddLogging().AddCruddurData(configuration).BuildServiceProvider();
        // Not disposed while its statement waits: closing a connection in use waits for the statement.
        var connection = await services.GetRequiredService<NpgsqlDataSource>().OpenConnectionAsync();
        var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        Task<object?>? running = null;
        if (sentBeforeTheDrop)
        {
            running = Run(command);
            await Task.Delay(500);
        }

        await endpoint.SilenceAsync();
        var clock = Stopwatch.StartNew();
        running ??= Run(command);
        var ended = await Task.WhenAny(running, Task.Delay(TimeSpan.FromSeconds(40))) == running;
        if (ended)
        {
            await connection.DisposeAsync();
        }

        Assert.True(ended, $"the statement was still waiting {clock.Elapsed.TotalSeconds:0} s after the packets stopped");
        Assert.IsAssignableFrom<NpgsqlException>(running.Exception?.InnerException);
        Assert.True(clock.Elapsed < Bound, $"the statement failed {clock.Elapsed.TotalSeconds:0.0} s after the packets stopped (bound {Bound.TotalSeconds} s)");
    }

    // Synchronous, on a thread of its own, as Hangfire runs its statements.
    private static Task<object?> Run(NpgsqlCommand command) =>
        Task.Factory.StartNew(command.ExecuteScalar, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
}

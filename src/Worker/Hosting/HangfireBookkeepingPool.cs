using Cruddur.Shared.Data;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Cruddur.Worker.Hosting;

/// <summary>
/// The Worker's pool for Hangfire's own writes (fetches, heartbeats, state changes, locks, counters): the main pool's
/// settings with <c>synchronous_commit=off</c>, so they no longer wait for the disk: 6 of a job's 8 WAL flushes, 5 since
/// the Processing state waits again (docs/architecture.md, "Measured facts"). A crash of the server loses at most its last
/// fraction of a second of them, never a torn write, and they stay in order with every other commit. This loses nothing: the
/// job itself was committed durably by the process that created it; a function's own writes use the main pool and are durable
/// when it returns; lost bookkeeping leaves the job unfinished in Hangfire's eyes, so it runs again after the invisibility
/// timeout (and enqueues again any job it had split out), and every function is idempotent. The exception is Processing,
/// which <c>OneTransactionStateChanger</c> commits synchronously: a Worker that outlives the crash would see its job's next
/// state refused and the job dropped from its queue. A process whose callers are promised a job (the Api's 202) keeps the
/// main pool.
/// </summary>
internal static class HangfireBookkeepingPool
{
    private const string Key = "hangfire-bookkeeping";

    /// <summary>A state change's transaction is idle for milliseconds between its statements; one idle this long was abandoned.</summary>
    public static readonly TimeSpan IdleInTransactionTimeout = TimeSpan.FromSeconds(15);

    public static IServiceCollection AddHangfireBookkeepingPool(this IServiceCollection services, IConfiguration configuration, int poolSize)
    {
        services.AddKeyedSingleton(Key, (provider, _) =>
        {
            // Startup options, not a SET: Npgsql's reset on returning a connection to the pool (RESET ALL) keeps them.
            // A state change holds its job's lock as an uncommitted row of its transaction (OneTransactionStateChanger):
            // a Worker cut off mid-change (a partition, a lost host) would leave that transaction, and every later taker
            // of the job's lock waiting, until the server noticed the peer was gone: two hours with PostgreSQL's and
            // Linux's defaults. The server ends such a session after it has been idle in its transaction for
            // IdleInTransactionTimeout, and probes an idle peer as the client does (DatabaseNetwork).
            var connection = DataServiceCollectionExtensions.MainConnection(configuration, poolSize);
            connection.Options = string.Join(' ', connection.Options, "-c synchronous_commit=off",
                $"-c idle_in_transaction_session_timeout={IdleInTransactionTimeout.TotalMilliseconds:0}",
                $"-c tcp_keepalives_idle={DatabaseNetwork.TcpKeepAliveSeconds} -c tcp_keepalives_interval={DatabaseNetwork.TcpKeepAliveIntervalSeconds} -c tcp_keepalives_count=9").Trim();
            // Hangfire sets no session state to reset, and enlists its connections in a transaction scope itself: a state
            // change's scope (OneTransactionStateChanger) holds one connection, and any other the filters open reads outside it.
            connection.NoResetOnClose = true;
            connection.Enlist = false;
            connection.ApplicationName = $"{connection.ApplicationName} (async commit)";
            return DataServiceCollectionExtensions.BuildDataSource(connection, provider);
        });
        return services;
    }

    public static NpgsqlDataSource Resolve(IServiceProvider provider) => provider.GetRequiredKeyedService<NpgsqlDataSource>(Key);
}

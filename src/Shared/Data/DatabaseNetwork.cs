using Npgsql;

namespace Cruddur.Shared.Data;

/// <summary>
/// How every pool of the process meets a network that fails: a host that is gone (a Multi-AZ failover), packets
/// dropped without a reset, a server that stops answering. Npgsql's defaults wait 15 s to connect, 30 s for a
/// statement and never probe an idle connection, so a POST could hang for a minute and a Worker sit on dead
/// connections. The bounds these give are measured in docs/reliability.md (scenarios g and h).
/// </summary>
public static class DatabaseNetwork
{
    /// <summary>
    /// Connecting, TLS and authentication included. A server in the same region answers in milliseconds; a host
    /// that is gone answers never, and each request that opens a connection waits this long. It is also how long a
    /// connection begun just before a failover's DNS change keeps a process on the old address, so it bounds the
    /// resume after the endpoint moves (issue 35: 5 s). A URL's <c>connect_timeout</c> wins.
    /// </summary>
    public const int ConnectTimeoutSeconds = 3;

    /// <summary>
    /// Every statement (and Npgsql's keepalive) ends with an error after this: ours take milliseconds, so 5 s
    /// is a silent network, not a slow query. It bounds how long a POST waits for its commit before answering 503.
    /// Migrations are exempt (<see cref="DatabaseMigrator"/>): building an index may take minutes.
    /// </summary>
    public const int CommandTimeoutSeconds = 5;

    /// <summary>
    /// After a statement's timeout Npgsql asks the server to cancel it and waits this long for the answer
    /// before breaking the connection; over a silent network none comes (Npgsql's default is 2 s).
    /// </summary>
    public const int CancellationTimeoutMilliseconds = 1000;

    /// <summary>
    /// An idle pooled connection is probed after this many seconds of silence. One that fails is broken, and a
    /// broken connection clears the pool (Npgsql does on a network error), so the next request connects afresh
    /// instead of paying <see cref="CommandTimeoutSeconds"/> on each dead connection in turn.
    /// </summary>
    public const int KeepAliveSeconds = 10;

    /// <summary>
    /// The kernel probes a connection that has carried nothing for this many seconds, every
    /// <see cref="TcpKeepAliveIntervalSeconds"/> after that, and breaks it after 9 unanswered probes (Linux's
    /// <c>tcp_keepalive_probes</c>): 12 s after a host vanished, as in a Multi-AZ failover, where packets are dropped and no
    /// reset comes. It is the only bound on a statement sent with no timeout: Hangfire.PostgreSql's statements go through
    /// Dapper.AOT, which sets <c>CommandTimeout = 0</c> (wait forever) when none is given, so a Worker's fetches to the lost
    /// primary waited for good and it ran no job after the failover (docs/reliability.md, scenario g). AWS's RDS guidance
    /// asks for short TCP keepalives for the same reason. A probe is a packet the server's kernel answers; it costs no statement.
    /// </summary>
    public const int TcpKeepAliveSeconds = 3;

    /// <summary>Seconds between unanswered keepalive probes (<see cref="TcpKeepAliveSeconds"/>).</summary>
    public const int TcpKeepAliveIntervalSeconds = 1;

    /// <summary>
    /// Idle connections beyond the pool's minimum are closed after a minute (Npgsql's default: 5 minutes), checked
    /// every 10 s: after a burst or a failover the process holds fewer connections to a server that may be gone,
    /// and fewer of PostgreSQL's <c>max_connections</c>.
    /// </summary>
    public const int ConnectionIdleLifetimeSeconds = 60;

    /// <summary>How often the pool looks for idle connections to close (Npgsql's default, written down beside the lifetime).</summary>
    public const int ConnectionPruningIntervalSeconds = 10;

    /// <summary>
    /// Connections a pool keeps however long they idle (Npgsql's Minimum Pool Size; it opens none before they are needed,
    /// and a network error still clears them all). Npgsql's pruning closes, each <see cref="ConnectionIdleLifetimeSeconds"/>,
    /// the median of the idle counts it sampled; under a steady load some connections are idle at every sample and needed
    /// between them. At 1,000 posts/s the Worker closed and reopened two connections of its main pool every minute and one
    /// or two of its bookkeeping pool, the Api one: each open is a job's or a post's wait (about 4 ms of SCRAM on the bench's
    /// loopback, a TLS handshake more on RDS), and the second that held the Worker's read a 27 ms p99 from a post to its
    /// job's end, the other seconds 9-18.5 (docs/lab/signed-in.md, "Connections reopened under a steady load, and the
    /// generator's warm-up"). A pool smaller than this keeps all of its own.
    /// </summary>
    public const int MinPoolSize = 4;

    /// <summary>
    /// No GSS-encryption attempt before TLS (Npgsql 10's default tries it first). Behind a host that accepts a connection
    /// and never answers, Npgsql 10.0.3's fallback from it opened a second socket without the connect timeout: 17 and 3 of
    /// 200 synchronous opens hung for good here, and a Worker, whose Hangfire connections open synchronously, stopped
    /// running jobs after a failover (npgsql/npgsql#6655). With it off, 0 of 200. We use TLS or nothing, never GSS.
    /// </summary>
    public const GssEncryptionMode GssEncryption = GssEncryptionMode.Disable;

    /// <summary>Npgsql's own connect timeout, which a URL without <c>connect_timeout</c> leaves in place.</summary>
    private static readonly int NpgsqlDefaultConnectTimeout = new NpgsqlConnectionStringBuilder().Timeout;

    /// <summary>Sets the bounds above on <paramref name="connection"/> (a connect timeout the URL chose is kept).</summary>
    public static NpgsqlConnectionStringBuilder Apply(NpgsqlConnectionStringBuilder connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (connection.Timeout == NpgsqlDefaultConnectTimeout)
        {
            connection.Timeout = ConnectTimeoutSeconds;
        }
        connection.CommandTimeout = CommandTimeoutSeconds;
        connection.CancellationTimeout = CancellationTimeoutMilliseconds;
        connection.KeepAlive = KeepAliveSeconds;
        connection.TcpKeepAlive = true;
        connection.TcpKeepAliveTime = TcpKeepAliveSeconds;
        connection.TcpKeepAliveInterval = TcpKeepAliveIntervalSeconds;
        connection.ConnectionIdleLifetime = ConnectionIdleLifetimeSeconds;
        connection.ConnectionPruningInterval = ConnectionPruningIntervalSeconds;
        connection.MinPoolSize = MinPoolSize;
        connection.GssEncryptionMode = GssEncryption;
        return connection;
    }
}

using System.Net.Sockets;
using System.Reflection;
using Npgsql;

namespace Cruddur.Shared.Data;

/// <summary>
/// Sets TCP_USER_TIMEOUT (libpq's <c>tcp_user_timeout</c>) on each new connection's socket, which Npgsql has no setting
/// for: the kernel closes a connection whose sent data has gone unacknowledged this long. TCP keepalive
/// (<see cref="DatabaseNetwork.TcpKeepAliveSeconds"/>) probes only a connection with nothing in flight; a statement sent
/// after the host vanished is retransmitted for about 15 minutes instead (Linux's <c>tcp_retries2</c>). Our statements end
/// by their command timeout, but Hangfire.PostgreSql's have none (Dapper.AOT sends <c>CommandTimeout = 0</c>): after a failover
/// a Worker's fetches sent into the silence waited for good (docs/reliability.md, scenario g).
/// <para>
/// Written against <see cref="NpgsqlVersion"/>: it reads the socket from <c>NpgsqlConnection.Connector._socket</c>, internal
/// members, and <c>NpgsqlTcpUserTimeoutTests</c> fails when they move. The change as Npgsql would take it (a
/// <c>Tcp User Timeout</c> connection-string setting applied in <c>NpgsqlConnector.SetSocketOptions</c>) is in
/// docs/upstream/npgsql-tcp-user-timeout.md; with it this file goes.
/// </para>
/// </summary>
public static class NpgsqlTcpUserTimeout
{
    /// <summary>The Npgsql version whose internals this reads.</summary>
    public const string NpgsqlVersion = "10.0.3";

    /// <summary>As long as keepalive takes to give up on an idle connection (3 s + 9 probes 1 s apart), so both paths end alike.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(
        DatabaseNetwork.TcpKeepAliveSeconds + 9 * DatabaseNetwork.TcpKeepAliveIntervalSeconds);

    private const int TcpUserTimeoutOption = 18; // TCP_USER_TIMEOUT in linux/tcp.h

    private static readonly PropertyInfo? ConnectorProperty =
        typeof(NpgsqlConnection).GetProperty("Connector", BindingFlags.Instance | BindingFlags.NonPublic);

    private static readonly FieldInfo? SocketField =
        ConnectorProperty?.PropertyType.GetField("_socket", BindingFlags.Instance | BindingFlags.NonPublic);

    /// <summary>Whether this process can set it: Linux (the option is Linux's), and Npgsql's members where this reads them.</summary>
    public static bool Supported => OperatingSystem.IsLinux() && SocketField is not null;

    /// <summary>Sets <see cref="Timeout"/> on every physical connection <paramref name="builder"/>'s data source opens (on Linux).</summary>
    public static NpgsqlDataSourceBuilder UseTcpUserTimeout(this NpgsqlDataSourceBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (!OperatingSystem.IsLinux())
        {
            return builder;
        }
        if (SocketField is null)
        {
            throw new InvalidOperationException(
                $"Npgsql {typeof(NpgsqlConnection).Assembly.GetName().Version} has no NpgsqlConnection.Connector._socket: re-check src/Shared/Data/{nameof(NpgsqlTcpUserTimeout)}.cs, written against Npgsql {NpgsqlVersion}.");
        }
        return builder.UsePhysicalConnectionInitializer(Apply, connection =>
        {
            Apply(connection);
            return Task.CompletedTask;
        });
    }

    /// <summary>The socket's TCP_USER_TIMEOUT in milliseconds, as the kernel has it (for tests).</summary>
    public static int Read(NpgsqlConnection connection)
    {
        var value = new byte[sizeof(int)];
        _ = SocketOf(connection).GetRawSocketOption((int)SocketOptionLevel.Tcp, TcpUserTimeoutOption, value);
        return BitConverter.ToInt32(value);
    }

    private static void Apply(NpgsqlConnection connection) =>
        SocketOf(connection).SetRawSocketOption((int)SocketOptionLevel.Tcp, TcpUserTimeoutOption, BitConverter.GetBytes((int)Timeout.TotalMilliseconds));

    private static Socket SocketOf(NpgsqlConnection connection) =>
        SocketField!.GetValue(ConnectorProperty!.GetValue(connection)) as Socket
        ?? throw new InvalidOperationException("the connection has no socket (is it open?)");
}

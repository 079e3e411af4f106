using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Cruddur.Tests.Fixtures;

/// <summary>
/// A loopback port that forwards to a server once <see cref="Start"/> is called: before that, connections
/// are refused, as from a database that is down. Lets a test take "Postgres" away from one host only, or stand for
/// an endpoint's DNS name. Four faults:
/// <list type="bullet">
/// <item><see cref="Cut"/> is a partition that refuses: open connections die, new ones are refused, until the next Start.</item>
/// <item><see cref="SilenceAsync"/> drops packets in the kernel (<see cref="LoopbackPacketDrop"/>), both ways, without a
/// reset: open connections carry nothing, not even ACKs or keepalive probes, and new ones get no answer to their SYN,
/// until <see cref="HealAsync"/>, after which TCP's retransmissions deliver what was sent. Needs root.</item>
/// <item><see cref="Stall"/> is an endpoint that accepts and never answers (a proxy whose server is gone): the
/// forwarder stops relaying, so its kernel still ACKs, until <see cref="HealAsync"/>.</item>
/// <item><see cref="MoveToAsync"/> points the endpoint at another server, as a failover moves a DNS name: new connections
/// go there; the ones open before stay as they were (silent for good, if they were), as to a host that is gone.</item>
/// </list>
/// </summary>
public sealed class TcpForwarder(string targetHost, int targetPort) : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private CancellationTokenSource _links = new();
    private TcpListener? _listener;
    private Route _route = new(targetHost, targetPort);
    private readonly ConcurrentDictionary<int, bool> _clientPorts = new();
    private LoopbackPacketDrop? _dropped;
    private int[] _silencedClientPorts = [];

    public int Port { get; } = PortAllocator.Free();

    /// <summary>The port new connections are forwarded to.</summary>
    public int TargetPort => _route.Port;

    public void Start()
    {
        _listener = new TcpListener(IPAddress.Loopback, Port);
        _listener.Start();
        _ = AcceptAsync(_listener);
    }

    private async Task AcceptAsync(TcpListener listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _ = ForwardAsync(client, _route);
        }
    }

    /// <summary>Refuses new connections and breaks the open ones, as a partition does, until <see cref="Start"/>.</summary>
    public void Cut()
    {
        _listener?.Stop();
        _listener = null;
        var links = _links;
        _links = new CancellationTokenSource();
        links.Cancel();
    }

    /// <summary>Drops every packet to and from this endpoint in the kernel (no RST, no FIN, no ACK) until <see cref="HealAsync"/>.</summary>
    public async Task SilenceAsync()
    {
        // The connections open now, which a move leaves silent: by then the forwarder may have closed its side of them
        // (its server died), but their clients, who hear nothing, still hold them.
        _silencedClientPorts = [.. _clientPorts.Keys];
        _dropped ??= await LoopbackPacketDrop.PortAsync(Port);
    }

    /// <summary>Stops relaying in both directions, keeping every connection open and accepting new ones, until <see cref="HealAsync"/>.</summary>
    public void Stall() => _route.Silence();

    /// <summary>Lets packets through and relays again what was held.</summary>
    public async Task HealAsync()
    {
        if (Interlocked.Exchange(ref _dropped, null) is { } dropped)
        {
            await dropped.DisposeAsync();
        }
        _route.Heal();
    }

    /// <summary>
    /// New connections go to <paramref name="host"/>:<paramref name="port"/>. The ones open now stay with the old server: if
    /// packets are dropped, theirs still are (the others' pass again); otherwise they stall.
    /// </summary>
    public async Task MoveToAsync(string host, int port)
    {
        var old = _route;
        _route = new Route(host, port);
        if (_dropped is { } everything)
        {
            _dropped = await LoopbackPacketDrop.ConnectionsAsync(Port, _silencedClientPorts.Union(_clientPorts.Keys));
            await everything.DisposeAsync();
        }
        else
        {
            old.Silence();
        }
    }

    private async Task ForwardAsync(TcpClient client, Route route)
    {
        using var link = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, _links.Token);
        var clientPort = ((IPEndPoint)client.Client.RemoteEndPoint!).Port;
        _clientPorts[clientPort] = true;
        using (client)
        using (var server = new TcpClient())
        {
            try
            {
                // No Nagle on either leg: PostgreSQL's answers are small and come in pieces, and a piece held back
                // for the ACK of the one before waited out the peer's delayed ACK (40 ms), so every round trip through
                // the proxy could cost 40 ms more (the soak's posts took 75 ms at the median instead of 10).
                client.NoDelay = true;
                server.NoDelay = true;
                await route.OpenAsync(link.Token); // a connection made while silent is accepted and never answered
                await server.ConnectAsync(route.Host, route.Port, link.Token);
                var a = PumpAsync(client.GetStream(), server.GetStream(), route, link.Token);
                var b = PumpAsync(server.GetStream(), client.GetStream(), route, link.Token);
                await Task.WhenAny(a, b);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
            {
                // either side closed
            }
            finally
            {
                _clientPorts.TryRemove(clientPort, out _);
            }
        }
    }

    // Copies until either side closes; while the route is silent it reads nothing and passes on nothing, not even a close.
    private static async Task PumpAsync(NetworkStream from, NetworkStream to, Route route, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        while (true)
        {
            await route.OpenAsync(cancellationToken);
            int read;
            try
            {
                read = await from.ReadAsync(buffer, cancellationToken);
            }
            catch (Exception e) when (e is IOException or SocketException)
            {
                read = 0; // a reset: passed on as a close, once the route relays
            }
            await route.OpenAsync(cancellationToken); // what arrived as the network fell silent is held too
            if (read == 0)
            {
                return;
            }
            await to.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _dropped, null) is { } dropped)
        {
            await dropped.DisposeAsync();
        }
        _stop.Cancel();
        _listener?.Stop();
        _stop.Dispose();
        _links.Dispose();
    }

    /// <summary>Where connections go, and whether packets get there.</summary>
    private sealed class Route(string host, int port)
    {
        private static readonly Task Open = Task.CompletedTask;
        private TaskCompletionSource? _silent;

        public string Host => host;

        public int Port => port;

        public Task OpenAsync(CancellationToken cancellationToken) =>
            Volatile.Read(ref _silent) is { } silent ? silent.Task.WaitAsync(cancellationToken) : Open;

        public void Silence() =>
            Interlocked.CompareExchange(ref _silent, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null);

        public void Heal() => Interlocked.Exchange(ref _silent, null)?.TrySetResult();
    }
}

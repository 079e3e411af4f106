using System.Net;
using System.Net.Sockets;

namespace Cruddur.Tests.Fixtures;

/// <summary>
/// A loopback port that forwards to a server once <see cref="Start"/> is called: before that, connections
/// are refused, as from a database that is down. Lets a test take "Postgres" away from one host only;
/// <see cref="Cut"/> is a network partition (open connections die, new ones are refused) until the next Start.
/// </summary>
public sealed class TcpForwarder(string targetHost, int targetPort) : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private CancellationTokenSource _links = new();
    private TcpListener? _listener;

    public int Port { get; } = PortAllocator.Free();

    public int TargetPort => targetPort;

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
            _ = ForwardAsync(client);
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

    private async Task ForwardAsync(TcpClient client)
    {
        using var link = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, _links.Token);
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
                await server.ConnectAsync(targetHost, targetPort, link.Token);
                var a = client.GetStream().CopyToAsync(server.GetStream(), link.Token);
                var b = server.GetStream().CopyToAsync(client.GetStream(), link.Token);
                await Task.WhenAny(a, b);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
            {
                // either side closed
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener?.Stop();
        _stop.Dispose();
        _links.Dispose();
        return ValueTask.CompletedTask;
    }
}

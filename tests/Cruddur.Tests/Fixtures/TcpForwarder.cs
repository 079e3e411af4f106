using System.Net;
using System.Net.Sockets;

namespace Cruddur.Tests.Fixtures;

/// <summary>
/// A loopback port that forwards to a server once <see cref="Start"/> is called: before that, connections
/// are refused, as from a database that is down. Lets a test take "Postgres" away from one host only.
/// </summary>
public sealed class TcpForwarder(string targetHost, int targetPort) : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private TcpListener? _listener;

    public int Port { get; } = PortAllocator.Free();

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

    private async Task ForwardAsync(TcpClient client)
    {
        using (client)
        using (var server = new TcpClient())
        {
            try
            {
                await server.ConnectAsync(targetHost, targetPort, _stop.Token);
                var a = client.GetStream().CopyToAsync(server.GetStream(), _stop.Token);
                var b = server.GetStream().CopyToAsync(client.GetStream(), _stop.Token);
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
        return ValueTask.CompletedTask;
    }
}

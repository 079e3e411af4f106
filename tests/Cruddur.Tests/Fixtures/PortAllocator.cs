using System.Net;
using System.Net.Sockets;

namespace Cruddur.Tests.Fixtures;

public static class PortAllocator
{
    /// <summary>A loopback port that was free a moment ago (the OS picks it).</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

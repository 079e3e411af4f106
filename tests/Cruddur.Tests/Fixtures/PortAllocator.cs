using System.Net;
using System.Net.Sockets;

namespace Cruddur.Tests.Fixtures;

public static class PortAllocator
{
    private static readonly HashSet<int> HandedOut = [];

    private static readonly int EphemeralLow = ReadEphemeralLow();

    /// <summary>
    /// A loopback port nothing listens on, below the kernel's ephemeral range, and never the same twice in this process.
    /// The OS's own pick (bind to 0) comes from that range, from which every outgoing connection takes its local port:
    /// one could take it between this call and the server's bind (bin/lib/common.sh's free_port does the same, and says why).
    /// </summary>
    public static int Free()
    {
        lock (HandedOut)
        {
            for (var attempt = 0; attempt < 1000; attempt++)
            {
                var port = Random.Shared.Next(10_000, EphemeralLow);
                if (HandedOut.Contains(port))
                {
                    continue;
                }
                try
                {
                    using var listener = new TcpListener(IPAddress.Loopback, port);
                    listener.Start();
                }
                catch (SocketException)
                {
                    continue; // taken
                }
                HandedOut.Add(port);
                return port;
            }
        }
        throw new InvalidOperationException($"No free loopback port between 10000 and {EphemeralLow}.");
    }

    private static int ReadEphemeralLow()
    {
        try
        {
            var low = int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split('\t', ' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            return low > 12_000 ? low : 32_768;
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            return 32_768;
        }
    }
}

using System.Globalization;

namespace Cruddur.Tests.Fixtures;

/// <summary>
/// Drops packets on the loopback interface in the kernel, as a host that is gone or a network that fails silently
/// drops them: nothing answers, not even TCP's ACKs or keepalive probes, so only a client's own timeouts notice. A
/// user-space proxy cannot do this (its kernel ACKs what it does not relay), which hid a Worker that waited forever
/// (docs/reliability.md, scenario g). Uses <c>tc</c>: an htb root on <c>lo</c> whose default class passes everything,
/// and a class that holds what each rule's u32 filters send it (this machine's kernel has no drop action). Held, not
/// dropped: a packet dropped by the sender's own queue counts as local congestion, and TCP retries its keepalive probe
/// forever instead of counting it unanswered. The class lets one byte a second out, so the first packet after a rule
/// starts may pass, then about one a minute. Needs root; the root qdisc (and all it holds) goes with the last rule.
/// </summary>
public sealed class LoopbackPacketDrop : IAsyncDisposable
{
    private const string Device = "lo";
    private const string BlackHole = "1:20";
    private static readonly SemaphoreSlim Gate = new(1, 1);

    private readonly int _priority;
    private bool _removed;

    private LoopbackPacketDrop(int priority) => _priority = priority;

    /// <summary>Whether this process may change the loopback's queueing: root with CAP_NET_ADMIN (a container's root may lack it), and tc.</summary>
    public static bool Available { get; } = Environment.UserName == "root" && File.Exists("/usr/sbin/tc") && HasNetAdmin();

    // CAP_NET_ADMIN is bit 12 of the effective capabilities (CapEff in /proc/self/status, hexadecimal).
    private static bool HasNetAdmin()
    {
        var effective = File.ReadLines("/proc/self/status").FirstOrDefault(line => line.StartsWith("CapEff:", StringComparison.Ordinal));
        return effective is not null
            && ulong.TryParse(effective["CapEff:".Length..].Trim(), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture, out var caps)
            && (caps & (1UL << 12)) != 0;
    }

    /// <summary>Drops every packet to or from <paramref name="port"/>: open connections and new ones.</summary>
    public static Task<LoopbackPacketDrop> PortAsync(int port) =>
        AddAsync([$"match ip dport {port} 0xffff", $"match ip sport {port} 0xffff"]);

    /// <summary>Drops the packets of the connections between <paramref name="serverPort"/> and each of <paramref name="clientPorts"/>.</summary>
    public static Task<LoopbackPacketDrop> ConnectionsAsync(int serverPort, IEnumerable<int> clientPorts) =>
        AddAsync([.. clientPorts.SelectMany(client => new[]
        {
            $"match ip sport {client} 0xffff match ip dport {serverPort} 0xffff",
            $"match ip sport {serverPort} 0xffff match ip dport {client} 0xffff",
        })]);

    private static async Task<LoopbackPacketDrop> AddAsync(IReadOnlyList<string> matches)
    {
        if (!Available)
        {
            throw new InvalidOperationException("dropping packets on loopback needs root and tc (apt-get install iproute2)");
        }
        // A priority of its own, so that removing this rule's filters leaves any other process's.
        var priority = Random.Shared.Next(1_000, 60_000);
        await Gate.WaitAsync();
        try
        {
            await EnsureRootAsync();
            foreach (var match in matches)
            {
                await TcAsync($"filter add dev {Device} parent 1: protocol ip prio {priority} u32 {match} flowid {BlackHole}");
            }
        }
        finally
        {
            Gate.Release();
        }
        return new LoopbackPacketDrop(priority);
    }

    /// <summary>Lets the packets through again.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_removed)
        {
            return;
        }
        _removed = true;
        await Gate.WaitAsync();
        try
        {
            // Fails harmlessly when the rule had no filter, or another process removed the root.
            await ProcessRunner.RunAsync("tc", ["filter", "del", "dev", Device, "parent", "1:", "prio", _priority.ToString(CultureInfo.InvariantCulture)]);
            var left = await ProcessRunner.RunAsync("tc", ["filter", "show", "dev", Device, "parent", "1:"]);
            if (left.ExitCode == 0 && string.IsNullOrWhiteSpace(left.Stdout))
            {
                await ProcessRunner.RunAsync("tc", ["qdisc", "del", "dev", Device, "root"]);
            }
        }
        finally
        {
            Gate.Release();
        }
    }

    // The root, its pass-through default class (far above any loopback rate) and the black hole: a class of one byte a
    // second whose queue takes everything it is given. Another process may have made them already.
    private static async Task EnsureRootAsync()
    {
        var shown = await ProcessRunner.RunAsync("tc", ["qdisc", "show", "dev", Device]);
        if (shown.Stdout.Contains("htb 1: root", StringComparison.Ordinal))
        {
            return;
        }
        await TcAsync($"qdisc add dev {Device} root handle 1: htb default 10");
        await TcAsync($"class add dev {Device} parent 1: classid 1:10 htb rate 100gbit");
        await TcAsync($"class add dev {Device} parent 1: classid {BlackHole} htb rate 8bit ceil 8bit burst 1 cburst 1");
        await TcAsync($"qdisc add dev {Device} parent {BlackHole} handle 20: pfifo limit 100000");
    }

    private static async Task TcAsync(string arguments)
    {
        var result = await ProcessRunner.RunAsync("tc", arguments.Split(' '));
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"tc {arguments}: {result.Output.Trim()}");
        }
    }
}

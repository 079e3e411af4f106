using System.Diagnostics;
using System.Globalization;
using Cruddur.Tests.Fixtures;

namespace Cruddur.Soak;

/// <summary>
/// The partition proxy (<see cref="TcpForwarder"/>) of one process under test, run in a process of its own
/// (<c>Cruddur.Soak proxy HOST TARGET_PORT</c>, which prints its port first), so that the load generator's thread
/// pool and GC pauses cannot delay PostgreSQL's traffic: in the driver's process the proxying was half of the
/// driver's 43% of a core, beside thousands of requests' continuations. Commands go through its standard input,
/// one per line ("start", "cut"), each answered by the same word once done.
/// </summary>
internal sealed class ProxyProcess : IAsyncDisposable
{
    private readonly Process _process;

    public ProxyProcess(string targetHost, int targetPort)
    {
        var dll = typeof(ProxyProcess).Assembly.Location;
        _process = Process.Start(new ProcessStartInfo(Environment.ProcessPath ?? "dotnet",
            [dll, "proxy", targetHost, targetPort.ToString(CultureInfo.InvariantCulture)])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
        }) ?? throw new InvalidOperationException("the proxy did not start");
        Port = int.Parse(_process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("the proxy stopped before it listened"),
            CultureInfo.InvariantCulture);
    }

    public int Port { get; }

    /// <summary>Forwards from now on (first start, or the heal of a partition).</summary>
    public void Start() => Send("start");

    /// <summary>Breaks every open link and refuses new ones until <see cref="Start"/>: a partition.</summary>
    public void Cut() => Send("cut");

    private void Send(string command)
    {
        _process.StandardInput.WriteLine(command);
        _process.StandardInput.Flush();
        var answer = _process.StandardOutput.ReadLine();
        if (answer != command)
        {
            throw new InvalidOperationException($"the proxy answered '{answer}' to '{command}'");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.StandardInput.Close(); // end of input: the proxy stops
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill();
            }
        }
        _process.Dispose();
    }

    /// <summary>The proxy process's main: prints its loopback port, then forwards it to HOST:TARGET_PORT as its standard input says.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        if (args is not [_, var host, var target] || !int.TryParse(target, CultureInfo.InvariantCulture, out var targetPort))
        {
            await Console.Error.WriteLineAsync("usage: Cruddur.Soak proxy HOST TARGET_PORT");
            return 2;
        }
        await using var forwarder = new TcpForwarder(host, targetPort);
        Console.WriteLine(forwarder.Port);
        while (await Console.In.ReadLineAsync() is { } command)
        {
            switch (command)
            {
                case "start":
                    forwarder.Start();
                    break;
                case "cut":
                    forwarder.Cut();
                    break;
                default:
                    await Console.Error.WriteLineAsync($"unknown command '{command}'");
                    return 2;
            }
            Console.WriteLine(command);
        }
        return 0;
    }
}

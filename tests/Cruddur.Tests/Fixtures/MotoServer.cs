using System.Diagnostics;
using System.Net.Sockets;

[assembly: AssemblyFixture(typeof(Cruddur.Tests.Fixtures.MotoServer))]

namespace Cruddur.Tests.Fixtures;

/// <summary>
/// One <c>moto_server</c> (an AWS emulator: SQS, EC2, RDS) for the whole test run, on a free loopback port,
/// stopped afterwards. Tests share it, so each test names its own queues and groups uniquely.
/// <c>TEST_AWS_ENDPOINT_URL</c> points the tests at an emulator that is already running instead.
/// </summary>
public sealed class MotoServer : IAsyncLifetime
{
    public const string Region = "us-east-1";

    private Process? _process;

    public string EndpointUrl { get; private set; } = "";

    /// <summary>The environment a process (a bin script, the Api, the Worker) needs to talk to this emulator.</summary>
    public IReadOnlyDictionary<string, string?> Environment => new Dictionary<string, string?>
    {
        ["AWS_ENDPOINT_URL"] = EndpointUrl,
        ["AWS_REGION"] = Region,
        ["AWS_DEFAULT_REGION"] = Region,
        ["AWS_ACCESS_KEY_ID"] = "testing",
        ["AWS_SECRET_ACCESS_KEY"] = "testing-secret",
        ["AWS_PAGER"] = "",
    };

    public async ValueTask InitializeAsync()
    {
        var existing = System.Environment.GetEnvironmentVariable("TEST_AWS_ENDPOINT_URL");
        if (!string.IsNullOrEmpty(existing))
        {
            EndpointUrl = existing.TrimEnd('/');
            return;
        }

        var port = PortAllocator.Free();
        var start = new ProcessStartInfo("moto_server")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "-H", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(argument);
        }
        try
        {
            _process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("moto_server not found on PATH: it is part of this machine's image (pip package moto[server]).", e);
        }
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        EndpointUrl = $"http://127.0.0.1:{port}";
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await AcceptsAsync(port))
        {
            if (_process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"moto_server did not start on port {port} (exit code {(_process.HasExited ? _process.ExitCode : -1)}).");
            }
            await Task.Delay(100);
        }
    }

    public ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        _process?.Dispose();
        return ValueTask.CompletedTask;
    }

    private static async Task<bool> AcceptsAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

using System.Diagnostics;

namespace Cruddur.Soak;

/// <summary>
/// One process under test (the Api or a Worker) reaching PostgreSQL through its own proxy, so that a partition
/// can take the database away from it alone. Its output goes to a log file under the soak's folder.
/// </summary>
internal sealed class AppProcess(string name, string dll, Settings settings, IReadOnlyDictionary<string, string> environment)
    : IAsyncDisposable
{
    private Process? _process;

    public string Name => name;

    /// <summary>The application_name its connections carry (its other pools' add " (reads)" or " (async commit)").</summary>
    public string ApplicationName => $"soak-{name}";

    public ProxyProcess Proxy { get; } = new("127.0.0.1", settings.PostgresPort);

    public int Pid => _process?.Id ?? 0;

    public void Start()
    {
        var log = Path.Combine(settings.OutDir, "logs", $"{name}.log");
        // exec: the pid we hold is dotnet's own, so a kill -9 hits the process under test, not a shell.
        var start = new ProcessStartInfo("/bin/sh", ["-c", $"exec dotnet \"$0\" >>\"$1\" 2>&1", dll, log]) { UseShellExecute = false };
        start.Environment["CONNECTION_URL"] = settings.ProcessUrl(Proxy.Port, ApplicationName);
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }
        _process = Process.Start(start) ?? throw new InvalidOperationException($"{name} did not start");
        // dotnet-counters attaches once the process is up: attached at its very start, a Worker once stayed at
        // 7 threads, its main thread waiting, with no connection made, for minutes (a run that never began).
        var pid = _process.Id;
        _ = Task.Delay(TimeSpan.FromSeconds(10)).ContinueWith(_ =>
        {
            lock (_countersLock)
            {
                if (Pid == pid && !HasExited)
                {
                    StartCounters();
                }
            }
        }, TaskScheduler.Default);
    }

    private readonly Lock _countersLock = new();

    private Process? _counters;
    private string? _countersFile;

    /// <summary>dotnet-counters as `dotnet tool install --global` puts it, unless it is on the PATH.</summary>
    private static readonly string CountersTool = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet", "tools", "dotnet-counters") is { } global
        && File.Exists(global) ? global : "dotnet-counters";

    /// <summary>dotnet-counters (when installed) writes the runtime's counters every 10 s, for the GC heap.</summary>
    private void StartCounters()
    {
        _countersFile = Path.Combine(settings.OutDir, "logs", $"counters-{name}-{Pid}.csv");
        try
        {
            _counters = Process.Start(new ProcessStartInfo(CountersTool,
                ["collect", "-p", Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--refresh-interval", "10",
                 "--format", "csv", "-o", _countersFile, "--counters", "System.Runtime"])
            { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true });
            _counters?.StandardOutput.ReadToEndAsync();
            _counters?.StandardError.ReadToEndAsync();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            _counters = null; // not installed: the samples go without the GC heap
        }
    }

    /// <summary>The GC heap's size in MB at dotnet-counters' latest report, or null without one.</summary>
    public double? GcHeapMb()
    {
        if (_countersFile is null || !File.Exists(_countersFile))
        {
            return null;
        }
        using var stream = new FileStream(_countersFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        // Timestamp,Provider,Counter Name,Counter Type,Mean/Increment; the heap is the sum of its generations' sizes
        // after the last collection ("dotnet.gc.last_collection.heap.size (By)[gc.heap.generation=gen0]", gen1, ...).
        var generations = new Dictionary<string, double>(StringComparer.Ordinal);
        while (reader.ReadLine() is { } line)
        {
            var fields = line.Split(',');
            if (fields.Length == 5 && fields[2].StartsWith("dotnet.gc.last_collection.heap.size", StringComparison.Ordinal)
                && double.TryParse(fields[4], System.Globalization.CultureInfo.InvariantCulture, out var bytes))
            {
                generations[fields[2]] = bytes;
            }
        }
        return generations.Count == 0 ? null : generations.Values.Sum() / 1048576;
    }

    /// <summary>kill -9: no shutdown, no drain; what it held comes back through Hangfire's invisibility timeout.</summary>
    public void Kill()
    {
        _process?.Kill();
        _process?.WaitForExit();
        lock (_countersLock)
        {
            StopCounters();
        }
    }

    private void StopCounters()
    {
        if (_counters is { HasExited: false } counters)
        {
            counters.Kill();
        }
        _counters?.Dispose();
        _counters = null;
    }

    public bool HasExited => _process is null || _process.HasExited;

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false } process)
        {
            // SIGTERM first, as an operator would stop it.
            Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])?.WaitForExit();
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill();
            }
        }
        _process?.Dispose();
        StopCounters();
        await Proxy.DisposeAsync();
    }
}

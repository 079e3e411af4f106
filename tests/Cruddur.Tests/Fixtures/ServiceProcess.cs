using System.Diagnostics;
using System.Text;

namespace Cruddur.Tests.Fixtures;

/// <summary>
/// A Worker or Api started as its own process, as it runs in production: `dotnet Cruddur.Worker.dll`,
/// configured by environment variables, stopped with SIGTERM (or killed).
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private static readonly System.Collections.Concurrent.ConcurrentQueue<ServiceProcess> Started = new();

    private ServiceProcess(Process process)
    {
        _process = process;
        Started.Enqueue(this);
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    /// <summary>Every process this test run started, alive or not, with its output: the logs an operator would read.</summary>
    public static IReadOnlyList<ServiceProcess> All => [.. Started];

    public bool HasExited => _process.HasExited;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static ServiceProcess Start(string dll, IReadOnlyDictionary<string, string?> environment, params string[] arguments) =>
        StartCommand("dotnet", [dll, .. arguments], environment);

    /// <summary>Any long-running command (a bin script), with the same clean environment.</summary>
    public static ServiceProcess StartCommand(string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?> environment)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(), // found its db/ beside the binaries, not from the checkout
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        // Nothing of the developer's environment leaks in: no database, no AWS account, no queue.
        foreach (var name in new[]
        {
            "CONNECTION_URL", "MIGRATION_CONNECTION_URL", "PROD_CONNECTION_URL", "DB_SG_ID", "DB_SG_RULE_ID", "COGNITO_USERS_QUEUE_URL", "COGNITO_USERS_DLQ_URL",
            "ASPNETCORE_URLS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL",
            "HANGFIRE_DASHBOARD_USER", "HANGFIRE_DASHBOARD_PASSWORD", "COGNITO_USER_POOL_ID", "COGNITO_CLIENT_IDS",
            "ALLOW_ANONYMOUS_POSTS", "FRONTEND_URL", "ASPNETCORE_ENVIRONMENT",
        })
        {
            start.Environment.Remove(name);
        }
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in environment)
        {
            if (value is null)
            {
                start.Environment.Remove(key);
            }
            else
            {
                start.Environment[key] = value;
            }
        }
        return new ServiceProcess(Process.Start(start)!);
    }

    public static ServiceProcess StartWorker(string connectionUrl, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var env = new Dictionary<string, string?>
        {
            ["CONNECTION_URL"] = connectionUrl,
            ["MIGRATION_CONNECTION_URL"] = TestDatabase.MigrationUrlFor(connectionUrl),
            ["HANGFIRE_QUEUE_POLL_MS"] = "100",
            ["WORKER_COUNT"] = "2",
            ["WORKER_SHUTDOWN_GRACE_SECONDS"] = "10",
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            env[key] = value;
        }
        return Start(Repository.WorkerDll, env);
    }

    /// <summary>
    /// The Api on Kestrel at 127.0.0.1:<paramref name="port"/>; returns once /healthz answers. Without a Cognito pool in
    /// <paramref name="environment"/> it takes anonymous posts, as an operator allows them (<c>ALLOW_ANONYMOUS_POSTS=true</c>).
    /// </summary>
    public static async Task<ServiceProcess> StartApiAsync(string connectionUrl, int port, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var env = new Dictionary<string, string?> { ["CONNECTION_URL"] = connectionUrl };
        foreach (var (key, value) in AnonymousPostsUnlessSignedIn(environment ?? new Dictionary<string, string?>()))
        {
            env[key] = value;
        }
        var api = Start(Repository.ApiDll, env, "--urls", $"http://127.0.0.1:{port}");
        try
        {
            using var http = new HttpClient();
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                try
                {
                    if ((await http.GetAsync(new Uri($"http://127.0.0.1:{port}/healthz"))).IsSuccessStatusCode)
                    {
                        return api;
                    }
                }
                catch (HttpRequestException) when (!api.HasExited && DateTime.UtcNow < deadline)
                {
                }
                if (api.HasExited || DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"the Api did not answer /healthz on port {port}:\n{api.Output}");
                }
                await Task.Delay(100);
            }
        }
        catch
        {
            await api.DisposeAsync(); // not left running after the test host exits
            throw;
        }
    }

    /// <summary>
    /// <paramref name="settings"/> with <c>ALLOW_ANONYMOUS_POSTS=true</c> added when they name no Cognito pool and do
    /// not choose it themselves: an Api outside Development refuses to start without one or the other. Such an Api
    /// takes every test's posts from one address, loads of thousands among them, so its per-poster rate limit is off
    /// (<c>POST_RATE_LIMIT_PER_SECOND=0</c>, as an operator sets it for a load test) unless the test sets it.
    /// </summary>
    public static Dictionary<string, string?> AnonymousPostsUnlessSignedIn(IReadOnlyDictionary<string, string?> settings)
    {
        var withChoice = new Dictionary<string, string?>(settings);
        if (!settings.ContainsKey("COGNITO_USER_POOL_ID"))
        {
            withChoice.TryAdd("ALLOW_ANONYMOUS_POSTS", "true");
            withChoice.TryAdd("POST_RATE_LIMIT_PER_SECOND", "0");
        }
        return withChoice;
    }

    /// <summary>Sends SIGTERM and waits for the exit; returns the exit code and how long it took.</summary>
    public async Task<(int ExitCode, TimeSpan Elapsed)> TerminateAsync(TimeSpan timeout)
    {
        var started = Stopwatch.StartNew();
        var kill = await ProcessRunner.RunAsync("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        if (kill.ExitCode != 0 && !_process.HasExited)
        {
            throw new InvalidOperationException($"kill -TERM failed: {kill}");
        }
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"process {Id} did not exit within {timeout.TotalSeconds} s of SIGTERM.\n{Output}");
        }
        return (_process.ExitCode, started.Elapsed);
    }

    /// <summary><c>kill -9</c>: no shutdown, no flush, whatever was in flight is cut off.</summary>
    public async Task KillAsync()
    {
        var kill = await ProcessRunner.RunAsync("kill", ["-KILL", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        if (kill.ExitCode != 0 && !_process.HasExited)
        {
            throw new InvalidOperationException($"kill -KILL failed: {kill}");
        }
        await WaitForExitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>Waits for the process to exit by itself; returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(deadline.Token);
        return _process.ExitCode;
    }

    public async Task WaitForOutputAsync(string text, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (_process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"process {Id} never printed '{text}'{(_process.HasExited ? $" (exited {_process.ExitCode})" : "")}:\n{Output}");
            }
            await Task.Delay(50);
        }
    }

    public ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        _process.Dispose();
        return ValueTask.CompletedTask;
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }
}

namespace Cruddur.Tests.Fixtures;

/// <summary>
/// A service process that a test kills and starts again. Disposing it stops whichever process is current, so
/// a test that fails part-way leaves nothing running (a reassigned variable once leaked an Api and a Worker).
/// </summary>
public sealed class RestartableProcess(ServiceProcess first) : IAsyncDisposable
{
    private ServiceProcess? _running = first;

    /// <summary>The process started last (still readable, e.g. its output, after disposal).</summary>
    public ServiceProcess Current { get; private set; } = first;

    /// <summary><c>kill -9</c> the current process, then start its replacement.</summary>
    public async Task KillAndRestartAsync(Func<Task<ServiceProcess>> start)
    {
        var victim = Current;
        _running = null;
        await using (victim)
        {
            await victim.KillAsync();
        }
        Current = await start();
        _running = Current;
    }

    public Task KillAndRestartAsync(Func<ServiceProcess> start) => KillAndRestartAsync(() => Task.FromResult(start()));

    public async ValueTask DisposeAsync()
    {
        var running = _running;
        _running = null;
        if (running is not null)
        {
            await running.DisposeAsync();
        }
    }
}

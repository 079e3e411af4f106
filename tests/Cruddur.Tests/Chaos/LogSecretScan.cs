using Cruddur.Tests.Fixtures;

[assembly: AssemblyFixture(typeof(Cruddur.Tests.Chaos.LogSecretScan))]

namespace Cruddur.Tests.Chaos;

/// <summary>
/// At the end of the test run, reads every line that every Api and Worker process of the run printed (their
/// stdout and stderr, at every level) and fails the run if any secret of the run appears in one.
/// </summary>
public sealed class LogSecretScan : IAsyncLifetime
{
    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public ValueTask DisposeAsync()
    {
        var processes = ServiceProcess.All;
        var lines = processes.Sum(p => p.Output.Split('\n').Length);
        var leaks = processes
            .SelectMany(p => p.Output.Split('\n').Where(line => SecurityTests.SecretsIn(line).Any()).Select(line => $"process {p.Id}: {line.Trim()}"))
            .ToList();
        new ChaosCounts("(f) secrets in logs", processes.Count, processes.Count, lines, 0, leaks.Count,
            $"{processes.Count} processes, {lines} log lines scanned for the database, AWS and dashboard secrets; leaks {leaks.Count}").Save();
        if (leaks.Count > 0)
        {
            throw new InvalidOperationException($"{leaks.Count} log line(s) hold a secret:\n{string.Join('\n', leaks.Take(20))}");
        }
        return ValueTask.CompletedTask;
    }
}

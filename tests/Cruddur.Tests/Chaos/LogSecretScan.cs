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
        var scanned = 0;
        var leaks = new List<string>();
        foreach (var process in processes)
        {
            foreach (var line in process.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                scanned++; // counted as it is read, so the report says what was scanned, not what might have been
                if (SecurityTests.SecretsIn(line).Any())
                {
                    leaks.Add($"process {process.Id}: {line.Trim()}");
                }
            }
        }
        var printing = processes.Count(p => p.Output.Length > 0);
        new ChaosCounts("(f) secrets in logs", processes.Count, printing, scanned, 0, leaks.Count,
            $"{processes.Count} processes ({printing} printed anything), {scanned} log lines read and scanned for the database, AWS and dashboard secrets; leaks {leaks.Count}").Save();
        if (processes.Count > 0 && scanned == 0)
        {
            throw new InvalidOperationException($"{processes.Count} processes ran but not one log line was read: the scan proved nothing");
        }
        if (leaks.Count > 0)
        {
            throw new InvalidOperationException($"{leaks.Count} log line(s) hold a secret:\n{string.Join('\n', leaks.Take(20))}");
        }
        return ValueTask.CompletedTask;
    }
}

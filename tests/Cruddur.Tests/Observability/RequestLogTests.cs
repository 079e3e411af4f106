using Cruddur.Tests.Fixtures;

namespace Cruddur.Tests.Observability;

/// <summary>What the Api writes per request, as a real process: its console is the operator's log.</summary>
public class RequestLogTests(PostgresServer server)
{
    [Fact]
    public async Task By_default_a_request_adds_no_log_line_and_the_aspnetcore_level_brings_them_back()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);

        var quiet = await LinesForTenFeedRequestsAsync(db, environment: null);
        var verbose = await LinesForTenFeedRequestsAsync(db, new Dictionary<string, string?> { ["Logging__LogLevel__Microsoft.AspNetCore"] = "Information" });

        Assert.DoesNotContain(quiet, line => line.Contains("/api/activities/home", StringComparison.Ordinal));
        // Counted by path: the start-up's readiness probe may log its own line after the count began.
        Assert.Equal(10, verbose.Count(line => line.Contains("Request finished HTTP/1.1 GET", StringComparison.Ordinal)
            && line.Contains("/api/activities/home", StringComparison.Ordinal)));
    }

    private static async Task<string[]> LinesForTenFeedRequestsAsync(TestDatabase db, IReadOnlyDictionary<string, string?>? environment)
    {
        var port = PortAllocator.Free();
        await using var api = await ServiceProcess.StartApiAsync(db.Url, port, environment);
        using var http = new HttpClient();
        var before = api.Output.Length;
        for (var i = 0; i < 10; i++)
        {
            (await http.GetAsync(new Uri($"http://127.0.0.1:{port}/api/activities/home"), TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
        }
        // The console logger writes from its own queue: a clean stop flushes it, so every line the requests made is
        // read before the assert, and the host's own shutdown line proves the output was read to its end.
        Assert.Equal(0, (await api.TerminateAsync(TimeSpan.FromSeconds(60))).ExitCode);
        var lines = api.Output[before..].Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, line => line.Contains("Application is shutting down", StringComparison.Ordinal));
        return lines;
    }
}

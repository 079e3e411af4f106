using System.Net;
using Cruddur.Tests.Fixtures;

namespace Cruddur.Tests.Chaos;

/// <summary>
/// Workers and Apis killed with <c>kill -9</c> in the middle of a load of posts: nothing acknowledged is lost,
/// nothing is stored twice.
/// </summary>
[Trait("Category", "Chaos")]
[Collection(ChaosSettings.Serial)]
public sealed class ProcessCrashTests(PostgresServer server)
{
    [Fact]
    public async Task Every_acknowledged_post_is_stored_once_when_one_of_two_Workers_is_killed_three_times()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var steady = ServiceProcess.StartWorker(db.Url, ChaosSettings.Worker());
        await using var victim = new RestartableProcess(ServiceProcess.StartWorker(db.Url, ChaosSettings.Worker()));
        var apiPort = PortAllocator.Free();
        await using var api = await ServiceProcess.StartApiAsync(db.Url, apiPort, ChaosSettings.Api());
        var load = new ActivityLoad([Local(apiPort)], "a-worker-killed", ChaosSettings.Posts);
        var random = new Random(9);

        var posting = load.RunAsync();
        var killedWhileBusy = 0;
        for (var kill = 0; kill < 3; kill++)
        {
            await Task.Delay(random.Next(1500, 4000));
            // Aim the kill at a moment the victim itself holds a job (up to 20 s), and count the kills that did.
            killedWhileBusy += await RunningOnAsync(db, victim.Current.Id, TimeSpan.FromSeconds(20)) > 0 ? 1 : 0;
            await victim.KillAndRestartAsync(() => ServiceProcess.StartWorker(db.Url, ChaosSettings.Worker()));
        }
        await posting;
        var counts = (await ChaosCounts.SettleAsync(db, load, "(a) Worker kill -9 x3", TimeSpan.FromSeconds(180),
            $"kills with jobs processing {killedWhileBusy}/3, failed jobs {await CountAsync(db, "SELECT count(*) FROM hangfire.job WHERE statename = 'Failed'")}")).Report();
        await victim.DisposeAsync();
        if (counts.Lost > 0)
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"--- steady Worker (tail)\n{steady.Output[^Math.Min(steady.Output.Length, 4000)..]}\n--- restarted Worker (tail)\n{victim.Current.Output[^Math.Min(victim.Current.Output.Length, 4000)..]}");
        }

        Assert.Empty(load.Unexpected);
        Assert.True(killedWhileBusy >= 1, "no kill hit the Worker while it held a job: the run proved nothing about jobs in flight");
        Assert.Equal(counts.Sent, counts.Acknowledged);
        Assert.Equal(0, counts.Lost);
        Assert.Equal(0, counts.Duplicates);
        Assert.Equal(counts.Acknowledged, counts.Stored);
    }

    [Fact]
    public async Task Every_acknowledged_post_is_stored_once_when_an_Api_is_killed_and_clients_retry_with_their_key()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var worker = ServiceProcess.StartWorker(db.Url, ChaosSettings.Worker());
        var port = PortAllocator.Free();
        await using var victim = new RestartableProcess(await ServiceProcess.StartApiAsync(db.Url, port, ChaosSettings.Api()));
        var otherPort = PortAllocator.Free();
        await using var other = await ServiceProcess.StartApiAsync(db.Url, otherPort, ChaosSettings.Api());
        // Each client sends to one Api and retries at the other: a retry of an unanswered post crosses processes.
        var load = new ActivityLoad([Local(port), Local(otherPort)], "b-api-killed", ChaosSettings.Posts);
        var random = new Random(11);

        var posting = load.RunAsync();
        for (var kill = 0; kill < 2; kill++)
        {
            await Task.Delay(random.Next(1000, 3000));
            await victim.KillAndRestartAsync(() => ServiceProcess.StartApiAsync(db.Url, port, ChaosSettings.Api()));
        }
        await posting;

        // The same keys again, as a client that never saw its 202: the first answer, no new activity.
        var replayed = 0;
        foreach (var post in load.Accepted.Keys.Take(50))
        {
            using var again = await load.ResendAsync(post);
            replayed += again.StatusCode == HttpStatusCode.Accepted && again.Headers.Contains("Idempotent-Replayed") ? 1 : 0;
        }
        var counts = (await ChaosCounts.SettleAsync(db, load, "(b) Api kill -9 x2", TimeSpan.FromSeconds(120),
            $"attempts without an answer {load.Unanswered}, retries answered as replays {load.Replays}, re-sent keys replayed {replayed}/50")).Report();
        await victim.DisposeAsync();

        Assert.Empty(load.Unexpected);
        Assert.Equal(50, replayed);
        Assert.Equal(counts.Sent, counts.Acknowledged);
        Assert.Equal(0, counts.Lost);
        Assert.Equal(0, counts.Duplicates);
        Assert.Equal(counts.Acknowledged, counts.Stored);
    }

    /// <summary>
    /// Jobs in the Processing state on the Worker with this process id (Hangfire's ServerId starts with
    /// "host:pid:", FunctionHostBuilder), polled until there is one or <paramref name="patience"/> passes.
    /// </summary>
    private static async Task<long> RunningOnAsync(TestDatabase db, int pid, TimeSpan patience)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var running = await CountAsync(db, $"""
                SELECT count(*) FROM hangfire.job j JOIN hangfire.state s ON s.id = j.stateid
                WHERE j.statename = 'Processing' AND s.data::jsonb ->> 'ServerId' LIKE '%:{pid}:%'
                """);
            if (running > 0 || clock.Elapsed > patience)
            {
                return running;
            }
            await Task.Delay(20);
        }
    }

    internal static Uri Local(int port) => new($"http://127.0.0.1:{port}");

    internal static async Task<long> CountAsync(TestDatabase db, string sql) => await db.ScalarAsync<long>(sql);
}

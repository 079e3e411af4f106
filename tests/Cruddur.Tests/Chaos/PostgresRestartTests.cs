using System.Diagnostics;
using Cruddur.Tests.Fixtures;

namespace Cruddur.Tests.Chaos;

/// <summary>
/// PostgreSQL restarted under load (<c>pg_ctl restart -m fast</c>, <c>-m immediate</c>, and a stop of a few
/// seconds): the Api answers 503 with Retry-After meanwhile, the Worker carries on by itself, and nothing
/// acknowledged is lost or doubled. A cluster of its own, so the other tests' database stays up.
/// </summary>
[Trait("Category", "Chaos")]
[Collection(ChaosSettings.Serial)]
public sealed class PostgresRestartTests
{
    [Fact]
    public async Task The_Api_answers_503_while_Postgres_is_down_and_the_Worker_resumes_within_5_seconds_losing_nothing()
    {
        await using var own = await PostgresServer.StartOwnAsync();
        try
        {
            await RestartsUnderLoadAsync(own);
        }
        finally
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"--- the restarted PostgreSQL's log (tail)\n{own.LogTail()}");
        }
    }

    private static async Task RestartsUnderLoadAsync(PostgresServer own)
    {
        await using var db = await TestDatabase.CreateAsync(own, seed: true);
        await using var worker = ServiceProcess.StartWorker(db.Url, ChaosSettings.Worker());
        var port = PortAllocator.Free();
        await using var api = await ServiceProcess.StartApiAsync(db.Url, port, ChaosSettings.Api());
        // Fewer clients than elsewhere: this load must last through three outages.
        var load = new ActivityLoad([ProcessCrashTests.Local(port)], "c-postgres-restarted", ChaosSettings.Posts * 10, concurrency: 4);
        using var stop = new CancellationTokenSource();

        using var diagnostics = new WorkerOutputOnFailure(worker);
        var posting = load.RunAsync(stop.Token);
        var resumes = new List<TimeSpan>();
        foreach (var (action, mode) in new[] { ("restart", "fast"), ("restart", "immediate"), ("stop", "fast") })
        {
            await Task.Delay(3000);
            await own.ControlAsync(action, mode);
            if (action == "stop")
            {
                await Task.Delay(4000); // long enough that posts certainly meet a database that is down
                await own.ControlAsync("start");
            }
            resumes.Add(await WorkerResumesAsync(db));
        }
        await Task.Delay(2000);
        await stop.CancelAsync();
        await posting;

        var counts = (await ChaosCounts.SettleAsync(db, load, "(c) Postgres restart fast, immediate, stop 4 s", TimeSpan.FromSeconds(120),
            $"503s {load.Unavailable} (without Retry-After {load.MissingRetryAfter}), other 5xx {load.ServerErrors}, no answer {load.Unanswered}, " +
            $"slowest answer {load.Slowest.TotalSeconds:0.0} s, Worker resumed after {string.Join(" / ", resumes.Select(r => $"{r.TotalSeconds:0.0} s"))}, " +
            $"lock rows left {await StaleLocksAsync(db)}, jobs by state {await JobStatesAsync(db)}")).Report();

        Assert.Empty(load.Unexpected);
        Assert.Equal(0, load.ServerErrors);
        Assert.True(load.Unavailable > 0, "no post met the database down: the outage was not observed");
        Assert.Equal(0, load.MissingRetryAfter);
        Assert.True(load.Slowest < TimeSpan.FromSeconds(20), $"an answer took {load.Slowest}");
        Assert.All(resumes, resume => Assert.True(resume < TimeSpan.FromSeconds(5), $"the Worker took {resume} to resume"));
        Assert.Equal(counts.Sent, counts.Acknowledged);
        Assert.Equal(0, counts.Lost);
        Assert.Equal(0, counts.Duplicates);
        Assert.Equal(counts.Acknowledged, counts.Stored);
        Assert.Equal(0, await StaleLocksAsync(db));
    }

    /// <summary>Writes the Worker's output to the test's log when the test leaves this scope.</summary>
    private sealed class WorkerOutputOnFailure(ServiceProcess worker) : IDisposable
    {
        public void Dispose() =>
            TestContext.Current.TestOutputHelper?.WriteLine($"--- the Worker's output (tail)\n{worker.Output[^Math.Min(worker.Output.Length, 6000)..]}");
    }

    /// <summary>From Postgres being back to the Worker storing its next activity.</summary>
    private static async Task<TimeSpan> WorkerResumesAsync(TestDatabase db)
    {
        var back = Stopwatch.StartNew();
        long? before = null;
        while (back.Elapsed < TimeSpan.FromSeconds(30))
        {
            try
            {
                var now = await db.ScalarAsync<long>("SELECT count(*) FROM public.activities");
                if (before is null)
                {
                    before = now;
                }
                else if (now > before)
                {
                    return back.Elapsed;
                }
            }
            catch (Npgsql.NpgsqlException)
            {
                // the test's own pooled connections died with the server: the next attempt opens a new one
            }
            await Task.Delay(50);
        }
        return back.Elapsed;
    }

    /// <summary>Hangfire lock rows older than its lock timeout: they would block recurring jobs.</summary>
    private static Task<string> JobStatesAsync(TestDatabase db) => db.ScalarAsync<string>("""
        SELECT string_agg(statename || ' ' || n || coalesce(' (' || reasons || ')', ''), ', ')
        FROM (SELECT j.statename, count(*) n, string_agg(DISTINCT left(s.reason, 120), '; ') FILTER (WHERE j.statename <> 'Succeeded') reasons
              FROM hangfire.job j LEFT JOIN hangfire.state s ON s.id = j.stateid GROUP BY j.statename) states
        """);

    private static async Task<long> StaleLocksAsync(TestDatabase db) =>
        await db.ScalarAsync<long>("SELECT count(*) FROM hangfire.lock WHERE acquired < now() - interval '60 seconds'");
}

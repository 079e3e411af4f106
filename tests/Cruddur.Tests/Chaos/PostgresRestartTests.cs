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

        var settled = await ChaosCounts.SettleAsync(db, load, "(c) Postgres restart fast, immediate, stop 4 s", TimeSpan.FromSeconds(120));
        // Read after settling: the jobs' states then say where anything missing is stuck.
        var counts = (settled with
        {
            Notes = $"503s {load.Unavailable} (without Retry-After {load.MissingRetryAfter}), other 5xx {load.ServerErrors}, no answer {load.Unanswered}, " +
                $"slowest answer {load.Slowest.TotalSeconds:0.0} s, Worker resumed after {string.Join(" / ", resumes.Select(r => $"{r.TotalSeconds:0.0} s"))}, " +
                $"lock rows left {await LockRowsAsync(db)} (of them not acquirable {BlockingLocks(db).Count}), jobs by state {await JobStatesAsync(db)}",
        }).Report();

        await WriteLostJobsAsync(db, load);
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
        Assert.Empty(BlockingLocks(db));
    }

    /// <summary>Writes the Worker's output, less its routine "succeeded" lines, to the test's log when the test leaves this scope.</summary>
    private sealed class WorkerOutputOnFailure(ServiceProcess worker) : IDisposable
    {
        public void Dispose()
        {
            var lines = worker.Output.Split('\n').Where(line => !line.Contains(" succeeded in ", StringComparison.Ordinal)).TakeLast(400);
            TestContext.Current.TestOutputHelper?.WriteLine($"--- the Worker's output (tail, without its succeeded invocations)\n{string.Join('\n', lines)}");
        }
    }

    /// <summary>From Postgres being back to the Worker storing its next activity.</summary>
    private static async Task<TimeSpan> WorkerResumesAsync(TestDatabase db)
    {
        var back = Stopwatch.StartNew();
        long? before = null;
        var trace = new List<string>();
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
                if (trace.Count < 60 && back.ElapsedMilliseconds / 500 >= trace.Count)
                {
                    trace.Add($"{back.Elapsed.TotalSeconds:0.0} s: {now} rows, jobs {await db.ScalarAsync<string>(
                        "SELECT format('%s queued, %s fetched, %s created in the last second', count(*) FILTER (WHERE fetchedat IS NULL), count(*) FILTER (WHERE fetchedat IS NOT NULL), (SELECT count(*) FROM hangfire.job WHERE createdat > now() - interval '1 second')) FROM hangfire.jobqueue")}");
                }
            }
            catch (Npgsql.NpgsqlException e)
            {
                // the test's own pooled connections died with the server: the next attempt opens a new one
                trace.Add($"{back.Elapsed.TotalSeconds:0.0} s: {e.Message}");
            }
            await Task.Delay(50);
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"the Worker stored nothing for 30 s:\n{string.Join('\n', trace)}");
        return back.Elapsed;
    }

    /// <summary>For each acknowledged post not stored (up to 10): the jobs carrying its uuid and their state history.</summary>
    internal static async Task WriteLostJobsAsync(TestDatabase db, ActivityLoad load)
    {
        var output = TestContext.Current.TestOutputHelper;
        foreach (var (post, uuid) in load.Accepted.Take(100_000))
        {
            if (await db.ScalarAsync<long>($"SELECT count(*) FROM public.activities WHERE uuid = '{uuid}'") > 0)
            {
                continue;
            }
            var jobs = await db.ScalarAsync<string>($$"""
                SELECT coalesce(string_agg(format('job %s %s created %s; states: %s; queue: %s', j.id, j.statename, j.createdat::time,
                    (SELECT string_agg(s.name || coalesce(' (' || left(s.reason, 100) || ')', '') || ' @' || s.createdat::time, ' > ' ORDER BY s.id)
                     FROM hangfire.state s WHERE s.jobid = j.id),
                    (SELECT string_agg(q.queue || ' fetched ' || coalesce(q.fetchedat::time::text, 'no'), ', ')
                     FROM hangfire.jobqueue q WHERE q.jobid = j.id)), E'\n  '), 'no job carries it')
                FROM hangfire.job j WHERE j.arguments::text LIKE '%{{uuid}}%'
                """);
            output?.WriteLine($"lost post #{post} {uuid}:\n  {jobs}");
        }
    }

    private static Task<long> LockRowsAsync(TestDatabase db) => db.ScalarAsync<long>("SELECT count(*) FROM hangfire.lock");

    /// <summary>
    /// Lock rows left behind (a release that failed mid-outage) that Hangfire cannot take within 10 s: each
    /// would block a state change or a scheduler. Taken through Hangfire's own storage, as a Worker would.
    /// </summary>
    private static List<string> BlockingLocks(TestDatabase db)
    {
        var storage = new Hangfire.PostgreSql.PostgreSqlStorage(
            new Hangfire.PostgreSql.Factories.NpgsqlConnectionFactory(Cruddur.Shared.Data.ConnectionUrl.Parse(db.Url).ConnectionString, new Hangfire.PostgreSql.PostgreSqlStorageOptions()),
            Cruddur.Shared.Jobs.JobStorageServiceCollectionExtensions.StorageOptions(new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build()));
        var resources = new List<string>();
        using (var reader = db.DataSource.CreateCommand("SELECT resource FROM hangfire.lock").ExecuteReader())
        {
            while (reader.Read())
            {
                resources.Add(reader.GetString(0));
            }
        }
        var blocking = new List<string>();
        using var connection = storage.GetConnection();
        var prefix = Cruddur.Shared.Jobs.JobStorageServiceCollectionExtensions.Schema + ":";
        foreach (var resource in resources)
        {
            try
            {
                using var taken = connection.AcquireDistributedLock(resource[prefix.Length..], TimeSpan.FromSeconds(10));
            }
            catch (Hangfire.PostgreSql.PostgreSqlDistributedLockException)
            {
                blocking.Add(resource);
            }
        }
        return blocking;
    }

    private static Task<string> JobStatesAsync(TestDatabase db) => db.ScalarAsync<string>("""
        SELECT string_agg(statename || ' ' || n || coalesce(' (' || reasons || ')', ''), ', ')
        FROM (SELECT j.statename, count(*) n, string_agg(DISTINCT left(s.reason, 120), '; ') FILTER (WHERE j.statename <> 'Succeeded') reasons
              FROM hangfire.job j LEFT JOIN hangfire.state s ON s.id = j.stateid GROUP BY j.statename) states
        """);
}

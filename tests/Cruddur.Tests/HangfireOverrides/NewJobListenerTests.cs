using System.Diagnostics;
using Cruddur.Shared.Activities;
using Cruddur.Shared.Data;
using Cruddur.Shared.Jobs;
using Cruddur.Tests.Fixtures;
using Microsoft.Extensions.DependencyInjection;

namespace Cruddur.Tests.HangfireOverrides;

/// <summary>
/// A job the Api commits wakes an idle Worker at once (<see cref="Cruddur.HangfireOverrides.NewJobListener"/>), not at its
/// next poll: here the poll is 10 s, the bound 2 s. The Worker is a process of its own, as in production: an enqueue in the
/// test process wakes only the test process's fetchers.
/// </summary>
public sealed class NewJobListenerTests(PostgresServer server)
{
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(2);

    // This database's listening connections: other test classes run Workers of their own on the same server meanwhile
    // (picking any listener's pid once killed another test's, and this test then waited for an outage it never had).
    private const string Listeners = """
        FROM pg_stat_activity
        WHERE datname = current_database() AND application_name LIKE '%(new-job listener)' AND query = 'LISTEN new_job'
        """;

    private const string ListenerBackends = "SELECT count(*) " + Listeners;

    [Fact]
    public async Task A_job_the_api_commits_runs_within_two_seconds_on_a_worker_that_polls_every_ten()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var worker = await StartIdleWorkerAsync(db);
        await using var api = HangfireJobs.AsTheApi(db);

        var took = await TimesToRunAsync(db, api, 3);

        Assert.All(took, t => Assert.True(t < Bound, $"a job ran {t.TotalSeconds:0.00} s after its commit (each: {string.Join(", ", took.Select(x => x.TotalSeconds.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)))} s)"));
    }

    [Fact]
    public async Task After_its_connection_is_killed_the_listener_reconnects_logs_the_outage_once_and_wakes_the_worker_again()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var worker = await StartIdleWorkerAsync(db);
        await using var api = HangfireJobs.AsTheApi(db);
        var before = await db.ScalarAsync<int>("SELECT pid " + Listeners);

        await db.ExecuteAsync($"SELECT pg_terminate_backend({before})");
        await Eventually.HoldsAsync(async () =>
            await db.ScalarAsync<long>(ListenerBackends + $" AND pid <> {before}") == 1, "a new listening connection", TimeSpan.FromSeconds(10));
        await Task.Delay(TimeSpan.FromSeconds(1)); // the wake-up the reconnect set is spent: the fetcher waits for the poll again
        var took = await TimesToRunAsync(db, api, 3);

        Assert.All(took, t => Assert.True(t < Bound, $"after the reconnect a job ran {t.TotalSeconds:0.00} s after its commit"));
        Assert.Equal(1, Occurrences(worker.Output, "Not listening for new jobs"));
        Assert.Equal(1, Occurrences(worker.Output, "Listening for new jobs again"));
        Assert.DoesNotContain(ConnectionUrl.Parse(db.Url).Password!, worker.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_endpoint_that_stops_answering_ends_the_listeners_wait_within_two_keepalives_and_it_listens_again_once_it_answers()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var link = new TcpForwarder(server.Host, server.Port);
        link.Start();
        await using var worker = await StartIdleWorkerAsync(db, db.Url.Replace($":{link.TargetPort}/", $":{link.Port}/", StringComparison.Ordinal));
        await using var api = HangfireJobs.AsTheApi(db);

        // Accepts and never answers, and its kernel still ACKs, so TCP's keepalive cannot tell: only Npgsql's unanswered
        // keepalive does (a dropped packet is the kernel's keepalive's case, DatabaseNetworkTests; no tc on a shared loopback).
        link.Stall();
        await worker.WaitForOutputAsync("Not listening for new jobs", TimeSpan.FromSeconds(2 * DatabaseNetwork.KeepAliveSeconds + 5));
        await link.HealAsync();
        await worker.WaitForOutputAsync("Listening for new jobs again", TimeSpan.FromSeconds(30));
        // The fetcher's own connections waited out the stall too: one job to see it fetching again, then the timed ones.
        await TimesToRunAsync(db, api, 1, Eventually.Deadline);
        var took = await TimesToRunAsync(db, api, 3);

        Assert.All(took, t => Assert.True(t < Bound, $"after the stall a job ran {t.TotalSeconds:0.00} s after its commit"));
    }

    // One fetcher, polling every 10 s, listening, and idle: a job it runs within the bound was woken, not polled for
    // (one poll in five lands within 2 s of a commit by chance, so each test times three jobs).
    private static async Task<ServiceProcess> StartIdleWorkerAsync(TestDatabase db, string? url = null)
    {
        var worker = ServiceProcess.StartWorker(url ?? db.Url, new Dictionary<string, string?>
        {
            ["HANGFIRE_QUEUE_POLL_MS"] = ((int)Poll.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["WORKER_COUNT"] = "1",
        });
        try
        {
            await worker.WaitForOutputAsync("all the dispatchers started", TimeSpan.FromSeconds(90));
            await Eventually.HoldsAsync(async () => await db.ScalarAsync<long>(ListenerBackends) == 1, "the Worker listening for new jobs");
            await Task.Delay(TimeSpan.FromSeconds(1)); // its fetcher's first look found nothing and waits for the poll
            return worker;
        }
        catch
        {
            await worker.DisposeAsync();
            throw;
        }
    }

    private static async Task<List<TimeSpan>> TimesToRunAsync(TestDatabase db, ServiceProvider api, int jobs, TimeSpan? wait = null)
    {
        var took = new List<TimeSpan>();
        for (var i = 0; i < jobs; i++)
        {
            var job = await api.GetRequiredService<IJobQueue>().EnqueueBatchAsync(
                [new CreateActivityJob(Guid.CreateVersion7(), "bayko", $"woken {i}", DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1))]);
            var clock = Stopwatch.StartNew();
            var state = await HangfireJobs.WaitForFinalStateAsync(db.DataSource, job, wait ?? Poll * 2);
            took.Add(clock.Elapsed);
            Assert.Equal("Succeeded", state.State);
            await Task.Delay(TimeSpan.FromMilliseconds(500)); // the fetcher waits again
        }
        return took;
    }

    private static int Occurrences(string text, string part) =>
        (text.Length - text.Replace(part, "", StringComparison.Ordinal).Length) / part.Length;
}

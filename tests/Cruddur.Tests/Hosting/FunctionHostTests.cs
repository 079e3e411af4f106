using Cruddur.Shared.Activities;
using Cruddur.Shared.Jobs;
using Cruddur.Tests.Fixtures;
using Cruddur.Worker.Activities;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Hangfire.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Cruddur.Tests.Hosting;

public class FunctionHostTests(PostgresServer server)
{
    [Fact]
    public async Task A_job_function_runs_with_its_context_in_a_fresh_scope_per_invocation()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var worker = await StartAsync(db, [typeof(RecordingFunctions)]);
        var recorder = worker.Services.GetRequiredService<InvocationRecorder>();

        var first = await worker.Jobs.EnqueueAsync(new RecordJob("one"));
        var second = await worker.Jobs.EnqueueAsync(new RecordJob("two"));
        await recorder.WaitForAsync(e => e.Count == 2);

        var seen = recorder.Events.Select(e => e.Split('|')).OrderBy(e => e[0], StringComparer.Ordinal).ToList();
        Assert.Equal(["one", "record-context", first, "1"], seen[0][..4]);
        Assert.Equal(["two", "record-context", second, "1"], seen[1][..4]);
        Assert.NotEqual(seen[0][4], seen[1][4]); // invocation ids
        Assert.NotEqual(seen[0][5], seen[1][5]); // scoped services
        Assert.All(seen, e => Assert.Equal(["True", "True"], e[6..]));
        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(db.DataSource, first)).State);
    }

    [Fact]
    public async Task Middleware_runs_in_registration_order_around_the_function()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var worker = await StartAsync(db, [typeof(RecordingFunctions)],
            host => host.UseMiddleware<FirstMiddleware>().UseMiddleware<SecondMiddleware>());
        var recorder = worker.Services.GetRequiredService<InvocationRecorder>();

        await worker.Jobs.EnqueueAsync(new RecordJob("ordered"));

        await recorder.WaitForAsync(e => e.Contains("<first"));
        Assert.Equal(["first>", "second>", "ordered", "<second", "<first"], recorder.Events.Select(e => e.Split('|')[0]));
    }

    [Fact]
    public async Task Each_middleware_is_created_once_and_serves_every_invocation()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var worker = await StartAsync(db, [typeof(RecordingFunctions)], host => host.UseMiddleware<CountingMiddleware>());
        var recorder = worker.Services.GetRequiredService<InvocationRecorder>();

        foreach (var label in new[] { "one", "two", "three" })
        {
            await worker.Jobs.EnqueueAsync(new RecordJob(label));
        }

        await recorder.WaitForAsync(e => e.Count(x => x.StartsWith("counted", StringComparison.Ordinal)) == 3);
        Assert.Equal(1, recorder.Events.Count(e => e == "created"));
    }

    [Fact]
    public async Task A_function_class_the_host_creates_is_disposed_after_each_invocation()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var worker = await StartAsync(db, [typeof(DisposableFunctions)]);
        var recorder = worker.Services.GetRequiredService<InvocationRecorder>();

        await worker.Jobs.EnqueueAsync(new DisposableJob("one"));
        await recorder.WaitForAsync(e => e.Contains("disposed"));
        await worker.Jobs.EnqueueAsync(new DisposableJob("two"));
        await recorder.WaitForAsync(e => e.Count(x => x == "disposed") == 2);

        Assert.Equal(["ran one", "disposed", "ran two", "disposed"], recorder.Events);
    }

    [Fact]
    public async Task A_function_whose_class_needs_an_unregistered_service_stops_startup_naming_the_class_and_the_parameter()
    {
        await using var db = await TestDatabase.CreateAsync(server);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync(db, [typeof(UnregisteredDependencyFunctions)]));

        Assert.Contains(typeof(UnregisteredDependencyFunctions).FullName!, error.Message, StringComparison.Ordinal);
        Assert.Contains("UnregisteredService missing", error.Message, StringComparison.Ordinal);
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM hangfire.server")); // no server began to fetch jobs
    }

    [Fact]
    public async Task A_function_whose_service_needs_an_unregistered_service_stops_startup_naming_both()
    {
        await using var db = await TestDatabase.CreateAsync(server);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => InProcessWorker.StartAsync(
            db.Url, [typeof(DeepDependencyFunctions)], services: s => s.AddScoped<DeepStore>()));

        Assert.Contains($"{typeof(DeepDependencyFunctions).FullName}: cannot be created", error.Message, StringComparison.Ordinal);
        Assert.Contains(typeof(UnregisteredService).FullName!, error.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(DeepStore), error.Message, StringComparison.Ordinal);
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM hangfire.server"));
    }

    [Fact]
    public async Task A_middleware_taking_a_scoped_service_fails_a_test_that_starts_it_naming_both()
    {
        await using var db = await TestDatabase.CreateAsync(server);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync(db, [typeof(RecordingFunctions)], host => host.UseMiddleware<ScopedCapturingMiddleware>()));

        Assert.Contains(nameof(ScopedMarker), error.Message, StringComparison.Ordinal);
        Assert.Contains("root provider", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_batch_job_reaches_a_function_that_takes_a_list_in_one_call()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var worker = await StartAsync(db, [typeof(BatchFunctions)]);
        var recorder = worker.Services.GetRequiredService<InvocationRecorder>();

        var batch = await worker.Jobs.EnqueueBatchAsync([new NumberJob(1), new NumberJob(2), new NumberJob(39)]);
        await worker.Jobs.EnqueueAsync(new NumberJob(5));

        await recorder.WaitForAsync(e => e.Count == 2);
        Assert.Equal(["batch of 1, sum 5", "batch of 3, sum 42"], recorder.Events.Order(StringComparer.Ordinal));
        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(db.DataSource, batch)).State);
    }

    [Fact]
    public async Task A_dropped_database_connection_is_retried_by_polly_inside_the_invocation_not_by_hangfire()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var worker = await StartAsync(db, [typeof(FlakyFunctions)]);
        var recorder = worker.Services.GetRequiredService<InvocationRecorder>();

        var job = await worker.Jobs.EnqueueAsync(new FlakyInsertJob("flaky"));
        var state = await HangfireJobs.WaitForFinalStateAsync(db.DataSource, job);

        Assert.Equal("Succeeded", state.State);
        Assert.Equal(["invoked", "stored after 2 database attempts"], recorder.Events);
        Assert.Null(await HangfireJobs.ParameterAsync(db.DataSource, job, "RetryCount"));
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM users WHERE handle = 'flaky'"));
        Assert.Contains("Database write: transient error (57P01", worker.Logs.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_post_for_an_unknown_handle_fails_once_with_its_reason_and_is_not_retried()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var worker = await StartAsync(db, [typeof(ActivityFunctions)]);

        var job = await worker.Jobs.EnqueueAsync(Activity("nobody"));
        var state = await HangfireJobs.WaitForFinalStateAsync(db.DataSource, job);

        Assert.Equal("Failed", state.State);
        Assert.Contains("No user has the handle 'nobody'", state.Reason, StringComparison.Ordinal);
        Assert.Equal(1L, await HangfireJobs.CountStatesAsync(db.DataSource, job, "Processing"));
        Assert.Equal(0L, await HangfireJobs.CountStatesAsync(db.DataSource, job, "Scheduled"));
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM activities"));
    }

    [Fact]
    public async Task A_payload_that_is_not_the_contract_fails_once_naming_the_contract()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var worker = await StartAsync(db, [typeof(ActivityFunctions)]);
        var client = worker.Services.GetRequiredService<IBackgroundJobClient>();

        var job = client.Create(
            Job.FromExpression<IFunctionDispatcher>(d => d.DispatchAsync("create-activity", """{"uuid":"not-a-uuid"}""", null, null, CancellationToken.None)),
            new EnqueuedState("activities"));
        var state = await HangfireJobs.WaitForFinalStateAsync(db.DataSource, job);

        Assert.Equal("Failed", state.State);
        Assert.Contains("is not a valid CreateActivityJob for create-activity", state.Reason, StringComparison.Ordinal);
        Assert.Equal(0L, await HangfireJobs.CountStatesAsync(db.DataSource, job, "Scheduled"));
    }

    [Fact]
    public async Task Any_other_failure_goes_back_to_hangfire_for_a_retry_with_backoff()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var worker = await StartAsync(db, [typeof(ThrowingFunctions)]);

        var job = await worker.Jobs.EnqueueAsync(new ThrowOnceJob("x"));
        var state = await Eventually.ReachesAsync(() => HangfireJobs.StateAsync(db.DataSource, job), s => s.State == "Scheduled", $"job {job} scheduled for a retry");

        Assert.StartsWith("Retry attempt 1 of 10: the disk is full", state.Reason, StringComparison.Ordinal);
        Assert.Equal("1", await HangfireJobs.ParameterAsync(db.DataSource, job, "RetryCount"));
    }

    [Fact]
    public async Task A_job_for_a_function_this_Worker_lacks_is_retried_and_a_Worker_deployed_with_it_runs_it()
    {
        // A rolling deploy: the new Api queues record-context while the only Worker is an old one without it.
        await using var db = await TestDatabase.CreateAsync(server);
        string job;
        await using (var old = await StartAsync(db, [typeof(ThrowingFunctions)]))
        {
            job = await old.Jobs.EnqueueAsync(new RecordJob("from the new Api"));
            var state = await Eventually.ReachesAsync(() => HangfireJobs.StateAsync(db.DataSource, job), s => s.State is "Scheduled" or "Failed", $"job {job} retried or failed");
            Assert.Equal("Scheduled", state.State);
            Assert.StartsWith("Retry attempt 1 of 10: This Worker has no function", state.Reason, StringComparison.Ordinal);
        }
        await using var updated = await StartAsync(db, [typeof(RecordingFunctions)]);
        // The retry's due time brought to now, as in A_retried_job_goes_back_to_its_own_queue_and_succeeds.
        Assert.Equal(1, await db.ExecuteAsync($"UPDATE hangfire.set SET score = 0 WHERE key = 'schedule' AND value = 'tests:{job}'"));

        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(db.DataSource, job)).State);
    }

    [Fact]
    public async Task A_table_not_migrated_yet_is_a_failure_Hangfire_retries_not_a_job_failed_for_good()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var worker = await StartAsync(db, [typeof(SchemaAheadFunctions)]);

        var job = await worker.Jobs.EnqueueAsync(new SchemaAheadJob("early"));
        var state = await Eventually.ReachesAsync(() => HangfireJobs.StateAsync(db.DataSource, job), s => s.State is "Scheduled" or "Failed", $"job {job} retried or failed");

        Assert.Equal("Scheduled", state.State);
        Assert.Contains("not_migrated_yet", state.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_retried_job_goes_back_to_its_own_queue_and_succeeds()
    {
        // Hangfire re-enqueues a retry (DelayedJobScheduler) and a dashboard Requeue with a bare EnqueuedState,
        // whose queue is "default", which no Worker serves: the job must carry its queue itself.
        await using var db = await TestDatabase.CreateAsync(server);
        await using var worker = await StartAsync(db, [typeof(ThrowingFunctions)]);
        var recorder = worker.Services.GetRequiredService<InvocationRecorder>();

        var job = await worker.Jobs.EnqueueAsync(new ThrowOnceJob("x"));
        await recorder.WaitForAsync(e => e.Contains("attempt 1"));
        await Eventually.ReachesAsync(() => HangfireJobs.StateAsync(db.DataSource, job), s => s.State == "Scheduled", $"job {job} scheduled for a retry");
        // The retry is due in 15-45 s (Hangfire's backoff): bring its due time to now in Hangfire's schedule set, so that
        // Hangfire's own DelayedJobScheduler enqueues it, as it does every retry, without the test waiting that long.
        // (Hangfire stores a job that names its queue as "queue:id" there.)
        var moved = await db.ExecuteAsync($"UPDATE hangfire.set SET score = 0 WHERE key = 'schedule' AND value = 'tests:{job}'");
        Assert.True(moved == 1, "the retry is not in Hangfire's schedule set as tests:" + job + ": " + await db.ScalarAsync<string>("SELECT string_agg(concat_ws('|', key, value), '; ') FROM hangfire.set"));

        var state = await HangfireJobs.WaitForFinalStateAsync(db.DataSource, job);
        Assert.Equal("Succeeded", state.State);
        var states = await HangfireJobs.StatesAsync(db.DataSource, job);
        Assert.Equal(["Enqueued", "Processing", "Failed", "Scheduled", "Processing", "Succeeded"], states.Select(s => s.State));
        Assert.StartsWith("Retry attempt 1 of 10", states[3].Reason, StringComparison.Ordinal);
        Assert.Equal(["attempt 1", "attempt 2"], recorder.Events);
    }

    [Fact]
    public async Task The_same_create_activity_job_run_twice_stores_one_row()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var worker = await StartAsync(db, [typeof(ActivityFunctions)]);
        var activity = Activity("bayko");

        var first = await worker.Jobs.EnqueueAsync(activity);
        var second = await worker.Jobs.EnqueueAsync(activity);

        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(db.DataSource, first)).State);
        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(db.DataSource, second)).State);
        Assert.Equal(1L, await db.ScalarAsync<long>($"SELECT count(*) FROM activities WHERE uuid = '{activity.Uuid}'"));
    }

    [Fact]
    public async Task A_timer_function_is_registered_as_a_recurring_job_and_runs_on_its_schedule()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var worker = await StartAsync(db, [typeof(EverySecondTimer)]);
        var recorder = worker.Services.GetRequiredService<InvocationRecorder>();

        using var connection = worker.Services.GetRequiredService<JobStorage>().GetConnection();
        var recurring = Assert.Single(connection.GetRecurringJobs());
        Assert.Equal(("every-second", "* * * * * *", "maintenance"), (recurring.Id, recurring.Cron, recurring.Job.Queue));
        await recorder.WaitForAsync(e => e.Count >= 2, "the timer to run twice");
        Assert.StartsWith("tick|* * * * * *|", recorder.Events[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_timer_marked_run_on_startup_runs_when_the_worker_starts()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        var yearBefore = DateTime.UtcNow.Year;
        await using var worker = await StartAsync(db, [typeof(StartupTimer)]);
        var recorder = worker.Services.GetRequiredService<InvocationRecorder>();

        await recorder.WaitForAsync(e => e.Count == 1);
        // The next new year as the run saw it: the one after the year the test started in, or after it ended in.
        Assert.Contains(recorder.Events[0], new[] { yearBefore, DateTime.UtcNow.Year }.Select(year => $"new-year|{year + 1}-01-01"));
    }

    [Fact]
    public async Task A_second_worker_started_within_a_minute_does_not_run_the_startup_timer_again()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var first = await StartAsync(db, [typeof(StartupTimer)]);
        await first.Services.GetRequiredService<InvocationRecorder>().WaitForAsync(e => e.Count == 1);

        await using var second = await StartAsync(db, [typeof(StartupTimer)]);
        await Task.Delay(1500); // time enough for a second run to be fetched and run, were there one

        Assert.Contains(second.Logs.Lines, l => l.Message.StartsWith("Timer new-year ran at ", StringComparison.Ordinal) && l.Message.EndsWith("not run again at startup", StringComparison.Ordinal));
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job WHERE arguments::text LIKE '%new-year%'"));
    }

    [Fact]
    public async Task A_recurring_job_whose_function_is_gone_is_removed_at_startup()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await (await StartAsync(db, [typeof(EverySecondTimer)])).DisposeAsync();

        await using var worker = await StartAsync(db, [typeof(RecordingFunctions)]);

        using var connection = worker.Services.GetRequiredService<JobStorage>().GetConnection();
        Assert.Empty(connection.GetRecurringJobs());
        Assert.Contains("Timer every-second removed", worker.Logs.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stopping_the_worker_lets_a_running_invocation_finish()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        var worker = await StartAsync(db, [typeof(SlowFunctions)]);
        var recorder = worker.Services.GetRequiredService<InvocationRecorder>();
        var job = await worker.Jobs.EnqueueAsync(new SlowJob(1500));
        await recorder.WaitForAsync(e => e.Contains("started"));

        await worker.DisposeAsync();

        Assert.Equal(["started", "finished"], recorder.Events);
        Assert.Equal("Succeeded", (await HangfireJobs.StateAsync(db.DataSource, job)).State);
    }

    private static CreateActivityJob Activity(string handle) =>
        new(Guid.CreateVersion7(), handle, "hello", DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1));

    private static Task<InProcessWorker> StartAsync(TestDatabase db, Type[] functions, Action<Cruddur.Worker.Hosting.FunctionHostBuilder>? configure = null) =>
        InProcessWorker.StartAsync(db.Url, functions, configure, services: s => s.AddScoped<ScopedMarker>());
}

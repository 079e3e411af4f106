using Cruddur.Shared.Resilience;
using Cruddur.Tests.Fixtures;
using Cruddur.Worker.Activities;
using Hangfire;
using Hangfire.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Polly.Registry;

namespace Cruddur.Tests.Activities;

/// <summary>The purge-expired-activities timer against real Postgres: what goes, what stays, how it batches.</summary>
public class ActivityPurgeTests(PostgresServer server)
{
    [Fact]
    public async Task Expired_activities_go_in_bounded_batches_while_live_and_never_expiring_ones_stay()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await InsertAsync(db, 25, "current_timestamp - interval '1 second'", "expired");
        await InsertAsync(db, 5, "current_timestamp + interval '1 hour'", "live");
        await InsertAsync(db, 5, "NULL", "forever");

        var result = await Purger(db, new ActivityPurgeLimits { BatchSize = 10 }).PurgeAsync(TestContext.Current.CancellationToken);

        Assert.Equal((25L, 3, true), (result.Deleted, result.Batches, result.Finished)); // 10 + 10 + 5
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM activities WHERE message = 'expired'"));
        Assert.Equal(5L, await db.ScalarAsync<long>("SELECT count(*) FROM activities WHERE message = 'live'"));
        Assert.Equal(5L, await db.ScalarAsync<long>("SELECT count(*) FROM activities WHERE message = 'forever'"));
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM activities WHERE message LIKE '%seed data%'"));
    }

    [Fact]
    public async Task Idempotency_key_records_are_forgotten_past_the_longest_ttl_once_their_activity_is_gone()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var live = Guid.CreateVersion7();
        await db.ExecuteAsync($$"""
            INSERT INTO activities (uuid, user_uuid, message, expires_at)
            SELECT '{{live}}', uuid, 'still stored', current_timestamp + interval '1 day' FROM users WHERE handle = 'bayko';
            INSERT INTO idempotency_keys (user_handle, key, fingerprint, status, body, created_at) VALUES
              ('bayko', 'old', 'f', 202, '{"uuid":"{{Guid.CreateVersion7()}}","message":"an old secret"}', current_timestamp - interval '32 days'),
              ('bayko', 'old-but-stored', 'f', 202, '{"uuid":"{{live}}"}', current_timestamp - interval '32 days'),
              ('bayko', 'recent', 'f', 202, '{"uuid":"{{Guid.CreateVersion7()}}"}', current_timestamp - interval '2 days');
            """);

        var result = await Purger(db, new ActivityPurgeLimits { BatchSize = 10 }).PurgeAsync(TestContext.Current.CancellationToken);

        Assert.Equal(1L, result.KeysForgotten);
        Assert.Equal(
            ["old-but-stored", "recent"],
            (await db.ScalarAsync<string>("SELECT string_agg(key, ',' ORDER BY key) FROM idempotency_keys")).Split(','));
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM idempotency_keys WHERE body LIKE '%an old secret%'"));
    }

    [Fact]
    public async Task A_run_whose_time_budget_is_spent_leaves_the_rest_for_the_next_run()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await InsertAsync(db, 12, "current_timestamp - interval '1 day'", "expired");

        var spent = await Purger(db, new ActivityPurgeLimits { BatchSize = 5, TimeBudget = TimeSpan.Zero }).PurgeAsync(TestContext.Current.CancellationToken);
        Assert.Equal((0L, false), (spent.Deleted, spent.Finished));
        Assert.Equal(12L, await db.ScalarAsync<long>("SELECT count(*) FROM activities WHERE message = 'expired'"));

        var next = await Purger(db, new ActivityPurgeLimits { BatchSize = 5 }).PurgeAsync(TestContext.Current.CancellationToken);
        Assert.Equal((12L, 3, true), (next.Deleted, next.Batches, next.Finished));
    }

    [Fact]
    public async Task The_delete_finds_its_batch_through_the_expires_at_index()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await InsertAsync(db, 20_000, "current_timestamp + interval '1 day'", "live");
        await InsertAsync(db, 100, "current_timestamp - interval '1 day'", "expired");
        await db.ExecuteAsync("ANALYZE activities");

        var plan = await db.ScalarAsync<string>(
            "EXPLAIN (FORMAT JSON) " + db.Db.Template("activities", "purge_expired").Text.Replace("@batch_size", "5000", StringComparison.Ordinal));

        Assert.Contains("activities_expires_at_idx", plan, StringComparison.Ordinal);
        Assert.DoesNotContain("Seq Scan", plan, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_worker_purges_on_its_schedule_and_an_empty_schedule_turns_the_purge_off()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await InsertAsync(db, 30, "current_timestamp - interval '1 minute'", "expired");
        const string Expired = "SELECT count(*) FROM activities WHERE message = 'expired'";

        await using (var on = await StartWorkerAsync(db, cron: "*/2 * * * * *"))
        {
            await Eventually.ReachesAsync(() => db.ScalarAsync<long>(Expired), count => count == 0, "the expired activities purged on the schedule");
            Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM activities"));
            await WaitForLogAsync(on, "Purged 30 expired activities in 1 batches");
        }

        // Turned off: the recurring job the Worker before registered is gone, so no Worker purges on that schedule.
        await InsertAsync(db, 30, "current_timestamp - interval '1 minute'", "expired");
        await using var off = await StartWorkerAsync(db, cron: "");
        using var connection = off.Services.GetRequiredService<JobStorage>().GetConnection();
        Assert.Empty(connection.GetRecurringJobs());
        Assert.Contains("Timer purge-expired-activities is off", off.Logs.Text, StringComparison.Ordinal);
        Assert.Equal(30L, await db.ScalarAsync<long>(Expired));
    }

    private static Task<InProcessWorker> StartWorkerAsync(TestDatabase db, string cron) => InProcessWorker.StartAsync(
        db.Url, [typeof(ActivityPurgeFunctions)],
        settings: new Dictionary<string, string?> { [ActivityPurgeFunctions.CronSetting] = cron },
        services: services => services.AddActivityPurge());

    private static Task<string> WaitForLogAsync(InProcessWorker worker, string text) =>
        Eventually.ReachesAsync(() => worker.Logs.Text, logs => logs.Contains(text, StringComparison.Ordinal), $"a log line '{text}'");

    private static Task<int> InsertAsync(TestDatabase db, int count, string expiresAt, string message) => db.ExecuteAsync($"""
        INSERT INTO activities (user_uuid, message, expires_at)
        SELECT (SELECT uuid FROM users WHERE handle = 'andrewbrown'), '{message}', {expiresAt}
        FROM generate_series(1, {count})
        """);

    private static ExpiredActivityPurger Purger(TestDatabase db, ActivityPurgeLimits limits)
    {
        var services = new ServiceCollection().AddLogging().AddDatabaseResilience().BuildServiceProvider();
        return new ExpiredActivityPurger(
            db.Db, services.GetRequiredService<ResiliencePipelineProvider<string>>(), limits, NullLogger<ExpiredActivityPurger>.Instance);
    }
}

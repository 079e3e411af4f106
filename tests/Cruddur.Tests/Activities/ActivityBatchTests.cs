using Cruddur.HangfireOverrides;
using Cruddur.Shared.Activities;
using Cruddur.Shared.Jobs;
using Cruddur.Tests.Fixtures;
using Cruddur.Worker.Activities;
using Hangfire.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Cruddur.Tests.Activities;

/// <summary>The create-activity function on a batch: one statement, idempotent, per-item failure, under the author the Api found.</summary>
public sealed class ActivityBatchTests(PostgresServer server) : IAsyncLifetime
{
    private TestDatabase _db = null!;
    private InProcessWorker _worker = null!;

    public async ValueTask InitializeAsync()
    {
        _db = await TestDatabase.CreateAsync(server, seed: true);
        _worker = await InProcessWorker.StartAsync(_db.Url, [typeof(ActivityFunctions)]);
    }

    public async ValueTask DisposeAsync()
    {
        await _worker.DisposeAsync();
        await _db.DisposeAsync();
    }

    [Fact]
    public async Task A_batch_of_n_posts_stores_n_rows_in_one_job()
    {
        var batch = Posts(50, "bayko");

        var jobId = await _worker.Jobs.EnqueueBatchAsync(batch);

        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(_db.DataSource, jobId)).State);
        Assert.Equal(50L, await CountStoredAsync(batch));
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job"));
    }

    [Fact]
    public async Task A_batch_run_twice_stores_each_post_once()
    {
        var batch = Posts(20, "andrewbrown");

        var first = await _worker.Jobs.EnqueueBatchAsync(batch);
        await HangfireJobs.WaitForFinalStateAsync(_db.DataSource, first);
        var second = await _worker.Jobs.EnqueueBatchAsync(batch);

        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(_db.DataSource, second)).State);
        Assert.Equal(20L, await CountStoredAsync(batch));
    }

    [Fact]
    public async Task A_post_whose_user_vanished_is_split_out_and_fails_alone_while_the_rest_is_stored()
    {
        var batch = Posts(10, "bayko");
        var lost = new CreateActivityJob(Guid.CreateVersion7(), "vanished", "lost", DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1));
        batch.Insert(4, lost);

        var jobId = await _worker.Jobs.EnqueueBatchAsync(batch);

        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(_db.DataSource, jobId)).State);
        Assert.Equal(10L, await CountStoredAsync(batch));
        var split = await WaitForOtherJobAsync(jobId);
        var state = await HangfireJobs.WaitForFinalStateAsync(_db.DataSource, split);
        Assert.Equal("Failed", state.State);
        Assert.Contains("No user has the handle 'vanished'", state.Reason, StringComparison.Ordinal);
        Assert.Equal(1L, await HangfireJobs.CountStatesAsync(_db.DataSource, split, "Failed"));
        Assert.Equal(2L, await _db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job"));
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job WHERE statename = 'Failed'"));
    }

    [Fact]
    public async Task A_post_is_stored_under_the_author_the_Api_found_even_if_their_handle_changed_since()
    {
        var post = Posts(1, "bayko-before-a-rename")[0] with { UserUuid = Bayko };

        var jobId = await _worker.Jobs.EnqueueBatchAsync([post]);

        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(_db.DataSource, jobId)).State);
        Assert.Equal(Bayko, await _db.ScalarAsync<Guid>($"SELECT user_uuid FROM activities WHERE uuid = '{post.Uuid}'"));
    }

    [Fact]
    public async Task A_job_queued_by_an_older_Api_carrying_handles_only_is_stored_after_the_upgrade()
    {
        // The payload as the Api wrote it before jobs carried the author's uuid.
        var uuid = Guid.CreateVersion7();
        var payload = $$"""[{"uuid":"{{uuid}}","handle":"bayko","message":"queued before the upgrade","created_at":"2026-12-01T10:00:00+00:00","expires_at":"2099-12-01T10:00:00+00:00"}]""";
        var storage = _worker.Services.GetRequiredService<BatchingPostgreSqlStorage>();
        var call = Job.FromExpression<IFunctionDispatcher>(
            dispatcher => dispatcher.DispatchAsync(CreateActivityJob.Function, payload, null, null, CancellationToken.None), CreateActivityJob.Queue);

        var jobId = storage.CreateEnqueuedJob(call, CreateActivityJob.Queue);

        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(_db.DataSource, jobId)).State);
        Assert.Equal(Bayko, await _db.ScalarAsync<Guid>($"SELECT user_uuid FROM activities WHERE uuid = '{uuid}'"));
    }

    [Fact]
    public async Task A_post_whose_author_was_removed_after_it_was_accepted_fails_alone_naming_the_uuid()
    {
        var batch = Posts(3, "bayko");
        var removed = Guid.CreateVersion7();
        batch.Add(Posts(1, "removed")[0] with { UserUuid = removed });

        var jobId = await _worker.Jobs.EnqueueBatchAsync(batch);

        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(_db.DataSource, jobId)).State);
        Assert.Equal(3L, await CountStoredAsync(batch));
        var state = await HangfireJobs.WaitForFinalStateAsync(_db.DataSource, await WaitForOtherJobAsync(jobId));
        Assert.Equal("Failed", state.State);
        Assert.Contains($"No user has the uuid {removed} (@removed", state.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_post_whose_author_is_deleted_while_its_batch_is_being_stored_fails_alone_and_the_rest_is_stored()
    {
        var victim = await _db.ScalarAsync<Guid>(
            "INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES ('V', 'victim', 'v@example.com', 'sub-victim') RETURNING uuid");
        var batch = Posts(3, "bayko");
        batch.Add(Posts(1, "victim")[0] with { UserUuid = victim, Message = "mid-flight" });
        // The batch's statement stops at the victim's row (after its snapshot found the author) until the test lets it go.
        await using var gate = await _db.DataSource.OpenConnectionAsync(TestContext.Current.CancellationToken);
        await using (var hold = new Npgsql.NpgsqlCommand("SELECT pg_advisory_lock(4242)", gate))
        {
            await hold.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
        }
        await _db.ExecuteAsync("""
            CREATE FUNCTION public.wait_at_the_gate() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NEW; END $$;
            CREATE TRIGGER wait_at_the_gate BEFORE INSERT ON activities FOR EACH ROW WHEN (NEW.message = 'mid-flight')
            EXECUTE FUNCTION public.wait_at_the_gate();
            """);

        var jobId = await _worker.Jobs.EnqueueBatchAsync(batch);
        await Eventually.ReachesAsync(() => _db.ScalarAsync<long>("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"),
            waiting => waiting == 1, "the batch's statement waiting at the gate");
        await _db.ExecuteAsync($"DELETE FROM users WHERE uuid = '{victim}'"); // an operator removes the author meanwhile
        await using (var release = new Npgsql.NpgsqlCommand("SELECT pg_advisory_unlock(4242)", gate))
        {
            await release.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
        }

        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(_db.DataSource, jobId)).State);
        Assert.Equal(3L, await CountStoredAsync(batch));
        var state = await HangfireJobs.WaitForFinalStateAsync(_db.DataSource, await WaitForOtherJobAsync(jobId));
        Assert.Equal("Failed", state.State);
        Assert.Contains($"No user has the uuid {victim} (@victim", state.Reason, StringComparison.Ordinal);
    }

    // The seed's users.uuid of @bayko.
    private static readonly Guid Bayko = Guid.Parse("00000000-0000-4000-8000-000000000002");

    private static List<CreateActivityJob> Posts(int count, string handle)
    {
        var now = DateTimeOffset.UtcNow;
        now = now.AddTicks(-(now.Ticks % TimeSpan.TicksPerMicrosecond));
        return [.. Enumerable.Range(1, count).Select(n => new CreateActivityJob(Guid.CreateVersion7(), handle, $"post {n}", now, now.AddDays(1)))];
    }

    private Task<long> CountStoredAsync(IEnumerable<CreateActivityJob> batch) =>
        _db.ScalarAsync<long>($"SELECT count(*) FROM activities WHERE uuid IN ({string.Join(',', batch.Select(a => $"'{a.Uuid}'"))})");

    private async Task<string> WaitForOtherJobAsync(string jobId) =>
        (string)(await Eventually.ReachesAsync(() => _db.ScalarAsync<object?>($"SELECT min(id)::text FROM hangfire.job WHERE id <> {jobId}"),
            other => other is string, $"a job split out of batch job {jobId}"))!;
}

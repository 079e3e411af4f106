using Cruddur.Shared.Activities;
using Cruddur.Shared.Configuration;
using Cruddur.Shared.Jobs;
using Cruddur.Tests.Fixtures;
using Cruddur.Worker.Activities;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Cruddur.Tests.Hosting;

/// <summary>
/// JOB_RETENTION: a succeeded job's rows (hangfire.job, its states, its parameters) are deleted once it is that
/// old, by Hangfire.PostgreSql's expiration manager, so the tables stay bounded under steady load.
/// </summary>
public sealed class JobRetentionTests(PostgresServer server)
{
    [Fact]
    public async Task A_succeeded_job_expires_after_JOB_RETENTION_and_its_state_and_parameter_rows_go_with_it()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var worker = await InProcessWorker.StartAsync(db.Url, [typeof(ActivityFunctions)],
            settings: new Dictionary<string, string?> { [JobStorageServiceCollectionExtensions.JobRetentionKey] = "00:00:05" });
        var posts = Posts(25);

        var job = await worker.Jobs.EnqueueBatchAsync(posts);
        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(db.DataSource, job)).State);
        using (var connection = worker.Services.GetRequiredService<Hangfire.JobStorage>().GetConnection())
        {
            connection.SetJobParameter(job, "Marker", "\"kept with the job\""); // as a filter or a retry writes one
        }
        var kept = await RowsAsync(db, job);
        // Expires 5 s after it succeeded (Hangfire stamps expireat when it applies the Succeeded state).
        var expiresAfter = await db.ScalarAsync<double>($"""
            SELECT extract(epoch FROM j.expireat - s.createdat)::float8 FROM hangfire.job j JOIN hangfire.state s ON s.id = j.stateid WHERE j.id = {job}
            """);
        var gone = await Eventually.ReachesAsync(() => RowsAsync(db, job), rows => rows == (0, 0, 0), $"job {job}'s rows deleted (job, states, parameters)", TimeSpan.FromSeconds(90));

        Assert.Equal(1, kept.Jobs);
        Assert.True(kept.States >= 3, $"states {kept.States}"); // enqueued, processing, succeeded
        Assert.True(kept.Parameters >= 1, $"parameters {kept.Parameters}");
        Assert.InRange(expiresAfter, 4.0, 6.0);
        Assert.Equal((0L, 0L, 0L), gone);
        Assert.Equal(25L, await db.ScalarAsync<long>($"SELECT count(*) FROM activities WHERE uuid IN ({string.Join(',', posts.Select(p => $"'{p.Uuid}'"))})"));
    }

    [Fact]
    public void JOB_RETENTION_is_an_hour_by_default_and_a_bad_value_is_refused_with_its_name()
    {
        static TimeSpan Retention(string? value) => Settings.Read<JobStorageOptions>(
            new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [JobStorageServiceCollectionExtensions.JobRetentionKey] = value }).Build()).JobRetention;

        Assert.Equal(TimeSpan.FromHours(1), Retention(null));
        Assert.Equal(TimeSpan.FromDays(1), Retention("1.00:00:00"));
        Assert.Equal(TimeSpan.FromMinutes(10), Retention("00:10:00"));
        foreach (var bad in new[] { "soon", "-01:00:00", "00:00:00" })
        {
            // Not a duration: the binder's InvalidOperationException; under a second: the validation's OptionsValidationException.
            var error = Record.Exception(() => Retention(bad));
            Assert.True(error is InvalidOperationException or Microsoft.Extensions.Options.OptionsValidationException, error?.ToString());
            Assert.Contains("JOB_RETENTION", error!.Message, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// The disk a succeeded job costs in Hangfire's tables (job, state, jobparameter, with their indexes and
    /// TOAST), for batch jobs of 25 posts as bin/bench's group commit makes them: docs/reliability.md quotes it.
    /// </summary>
    [Fact]
    public async Task The_disk_cost_of_a_succeeded_job_is_measured()
    {
        const int jobs = 400;
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var before = await HangfireBytesAsync(db);
        await using var worker = await InProcessWorker.StartAsync(db.Url, [typeof(ActivityFunctions)]);
        var ids = new List<string>();
        for (var i = 0; i < jobs; i++)
        {
            ids.Add(await worker.Jobs.EnqueueBatchAsync(Posts(25)));
        }
        await Eventually.ReachesAsync(() => db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job WHERE statename = 'Succeeded'"), n => n == jobs, $"{jobs} jobs succeeded", TimeSpan.FromMinutes(3));
        await db.ExecuteAsync("VACUUM ANALYZE hangfire.job, hangfire.state, hangfire.jobparameter");

        var onDisk = (await HangfireBytesAsync(db) - before) / (double)jobs;
        var rowBytes = await db.ScalarAsync<decimal>("""
            SELECT (coalesce((SELECT sum(pg_column_size(j.*)) FROM hangfire.job j), 0) + coalesce((SELECT sum(pg_column_size(s.*)) FROM hangfire.state s), 0)
                  + coalesce((SELECT sum(pg_column_size(p.*)) FROM hangfire.jobparameter p), 0))::numeric / (SELECT count(*) FROM hangfire.job)
            """);
        var parameters = await db.ScalarAsync<long>("SELECT count(*) FROM hangfire.jobparameter") / (double)jobs;
        var states = await db.ScalarAsync<long>("SELECT count(*) FROM hangfire.state") / (double)jobs;
        var perDay = onDisk * 1000 / 25 * 86_400;
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"a succeeded job of 25 posts: {onDisk:0} bytes on disk (rows {rowBytes:0} bytes; {states:0.#} states, {parameters:0.#} parameters), {onDisk / 25:0} per post; at 1,000 posts/s " +
            $"{perDay / 1e9:0.0} GB written per day: held {perDay / 1e9:0.0} GB with a day's retention, {perDay / 24 / 1e9:0.00} GB with an hour's");
        Assert.InRange(onDisk, 100, 100_000);
    }

    private static async Task<(long Jobs, long States, long Parameters)> RowsAsync(TestDatabase db, string job) => (
        await db.ScalarAsync<long>($"SELECT count(*) FROM hangfire.job WHERE id = {job}"),
        await db.ScalarAsync<long>($"SELECT count(*) FROM hangfire.state WHERE jobid = {job}"),
        await db.ScalarAsync<long>($"SELECT count(*) FROM hangfire.jobparameter WHERE jobid = {job}"));

    private static Task<long> HangfireBytesAsync(TestDatabase db) => db.ScalarAsync<long>(
        "SELECT pg_total_relation_size('hangfire.job') + pg_total_relation_size('hangfire.state') + pg_total_relation_size('hangfire.jobparameter')");

    private static List<CreateActivityJob> Posts(int count) =>
        [.. Enumerable.Range(0, count).Select(i => new CreateActivityJob(Guid.CreateVersion7(), "bayko", $"retained {i}", DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1)))];
}

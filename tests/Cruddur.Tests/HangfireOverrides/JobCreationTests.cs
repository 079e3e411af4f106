using Cruddur.HangfireOverrides;
using Cruddur.Shared.Activities;
using Cruddur.Shared.Data;
using Cruddur.Shared.Jobs;
using Cruddur.Tests.Fixtures;
using Hangfire;
using Hangfire.Common;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Hangfire.States;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Cruddur.Tests.HangfireOverrides;

/// <summary>
/// Enqueueing (the Api's group commit, a Worker's own enqueues) stores a job with one statement: its row, its Enqueued
/// state and its queue row, which Hangfire.PostgreSql's client writes in six round trips, so an enqueue that fails
/// half-way leaves nothing behind, and the rows are the ones the library's client writes. A job's arguments are written
/// once (<see cref="BatchingPostgreSqlStorage"/>), and every reader of the library still finds them.
/// </summary>
public sealed class JobCreationTests(PostgresServer server)
{
    [Fact]
    public async Task An_enqueue_that_fails_at_its_state_leaves_no_job_row_behind()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var provider = HangfireJobs.AsTheApi(db);
        var jobs = provider.GetRequiredService<IJobQueue>();
        var batch = OnePost("one commit");
        // The Enqueued state's insert fails, as a crash or a cut between the job's rows would stop them.
        await db.ExecuteAsync("""
            CREATE FUNCTION public.refuse_state() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
            CREATE TRIGGER refuse_state BEFORE INSERT ON hangfire.state FOR EACH ROW EXECUTE FUNCTION public.refuse_state();
            """);

        var failed = await Record.ExceptionAsync(() => jobs.EnqueueBatchAsync(batch));
        var left = await db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job");
        await db.ExecuteAsync("DROP TRIGGER refuse_state ON hangfire.state");
        var job = await jobs.EnqueueBatchAsync(batch);

        Assert.Contains("refused by the test", failed?.ToString() ?? "(no exception)", StringComparison.Ordinal);
        Assert.Equal(0, left); // the job row went with its state: nothing half-stored
        Assert.Equal("Enqueued", await db.ScalarAsync<string>($"SELECT statename FROM hangfire.job WHERE id = {job}"));
        Assert.Equal(1L, await db.ScalarAsync<long>($"SELECT count(*) FROM hangfire.jobqueue WHERE jobid = {job}"));
    }

    [Fact]
    public async Task An_enqueued_job_has_the_rows_and_history_the_librarys_client_writes()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var provider = HangfireJobs.AsTheApi(db);
        var storage = provider.GetRequiredService<JobStorage>();
        var batch = OnePost("one statement");
        var payload = JobPayload.Serialize(batch);

        var ours = await provider.GetRequiredService<IJobQueue>().EnqueueBatchAsync(batch);
        var call = DispatchOf(payload);
        var theirs = new BackgroundJobClient(HangfireJobs.LibraryStorage(db)).Create(call, new EnqueuedState(CreateActivityJob.Queue));

        // Each row as the library reads it, ids and times left out.
        const string Rows = """
            SELECT concat_ws(' | ', j.statename, j.expireat IS NULL, s.jobid = j.id, s.name, s.reason IS NULL,
                             s.data->>'Queue', s.data ? 'EnqueuedAt', (SELECT string_agg(q.queue, ',') FROM hangfire.jobqueue q WHERE q.jobid = j.id))
            FROM hangfire.job j JOIN hangfire.state s ON s.id = j.stateid WHERE j.id =
            """;
        Assert.Equal($"Enqueued | t | t | Enqueued | t | {CreateActivityJob.Queue} | t | {CreateActivityJob.Queue}", await db.ScalarAsync<string>(Rows + theirs));
        Assert.Equal(await db.ScalarAsync<string>(Rows + theirs), await db.ScalarAsync<string>(Rows + ours));
        // Every column of the three rows, new ones included, but ids and times.
        const string AllColumns = """
            SELECT concat_ws(' | ', to_jsonb(j) - 'id' - 'stateid' - 'createdat' - 'invocationdata', j.invocationdata - 'Arguments',
                             to_jsonb(s) - 'id' - 'jobid' - 'createdat' - 'data', s.data - 'EnqueuedAt',
                             (SELECT string_agg((to_jsonb(q) - 'id' - 'jobid')::text, ',') FROM hangfire.jobqueue q WHERE q.jobid = j.id))
            FROM hangfire.job j JOIN hangfire.state s ON s.id = j.stateid WHERE j.id =
            """;
        Assert.Equal(await db.ScalarAsync<string>(AllColumns + theirs), await db.ScalarAsync<string>(AllColumns + ours));
        Assert.Equal(1L, await db.ScalarAsync<long>($"SELECT count(*) FROM hangfire.state WHERE jobid = {ours}"));
        var details = storage.GetMonitoringApi().JobDetails(ours); // the dashboard's page
        var enqueued = Assert.Single(details.History);
        Assert.Equal("Enqueued", enqueued.StateName);
        Assert.Equal(CreateActivityJob.Queue, enqueued.Data["Queue"]);
        Assert.Null(details.ExpireAt);
        Assert.Equal(2L, storage.GetMonitoringApi().EnqueuedCount(CreateActivityJob.Queue)); // ours and theirs, on the dashboard
    }

    [Fact]
    public async Task A_job_stores_its_arguments_once_and_the_librarys_readers_find_them_as_before()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var provider = HangfireJobs.AsTheApi(db);
        var storage = provider.GetRequiredService<JobStorage>();
        var batch = OnePost("written \"once\"");
        var payload = JobPayload.Serialize(batch);

        var ours = await provider.GetRequiredService<IJobQueue>().EnqueueBatchAsync(batch);
        // A row the library wrote itself (an older Api's), and one of ours with a job parameter: both read through ours.
        var library = HangfireJobs.LibraryStorage(db);
        var call = DispatchOf(payload);
        string theirs;
        using (var connection = library.GetConnection())
        {
            theirs = connection.CreateExpiredJob(call, new Dictionary<string, string>(), DateTime.UtcNow, TimeSpan.FromHours(1));
        }
        string withParameter;
        using (var connection = storage.GetConnection())
        {
            withParameter = connection.CreateExpiredJob(call, new Dictionary<string, string> { ["Origin"] = "test" }, DateTime.UtcNow, TimeSpan.FromHours(1));
        }

        Assert.False(await db.ScalarAsync<bool>($"SELECT invocationdata ? 'Arguments' FROM hangfire.job WHERE id = {ours}"));
        Assert.True(await db.ScalarAsync<bool>($"SELECT invocationdata ? 'Arguments' FROM hangfire.job WHERE id = {theirs}"));
        using (var connection = storage.GetConnection())
        {
            foreach (var id in new[] { ours, theirs, withParameter })
            {
                var job = connection.GetJobData(id).Job;
                Assert.Equal(CreateActivityJob.Function, job.Args[0]);
                Assert.Equal(payload, job.Args[1]);
                Assert.Equal(CreateActivityJob.Queue, job.Queue);
                Assert.Equal(payload, storage.GetMonitoringApi().JobDetails(id).Job.Args[1]); // the dashboard's page
            }
            Assert.Equal("test", connection.GetJobParameter(withParameter, "Origin"));
        }
    }

    [Fact]
    public async Task A_batchs_arguments_are_compressed_with_lz4_from_the_next_start_on_and_older_rows_still_read()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var provider = HangfireJobs.AsTheApi(db);
        var jobs = provider.GetRequiredService<IJobQueue>();
        var batch = Enumerable.Range(0, 64).Select(i => OnePost($"post {i} of a full batch, long enough to be a real one")[0]).ToList();
        var fresh = await jobs.EnqueueBatchAsync(batch);
        // A database migrated before db/hangfire-storage.sql: its column as Hangfire's installer makes it.
        await db.ExecuteAsync("ALTER TABLE hangfire.job ALTER COLUMN arguments SET COMPRESSION pglz");
        var older = await jobs.EnqueueBatchAsync(batch);

        await db.Migrator().MigrateAsync(seed: true); // the next start
        var newer = await jobs.EnqueueBatchAsync(batch);

        // What a DBA sees in \d+ hangfire.job, and how each row is stored.
        Assert.Equal("l", await db.ScalarAsync<string>(
            "SELECT attcompression::text FROM pg_attribute WHERE attrelid = 'hangfire.job'::regclass AND attname = 'arguments'"));
        Assert.Equal("lz4 pglz lz4", await db.ScalarAsync<string>(
            $"SELECT string_agg(pg_column_compression(arguments), ' ' ORDER BY array_position(ARRAY[{fresh}, {older}, {newer}]::bigint[], id)) FROM hangfire.job WHERE id IN ({fresh}, {older}, {newer})"));
        using var connection = provider.GetRequiredService<JobStorage>().GetConnection();
        foreach (var id in new[] { fresh, older, newer })
        {
            Assert.Equal(JobPayload.Serialize(batch), connection.GetJobData(id).Job.Args[1]);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_enqueue_notifies_the_librarys_new_job_channel_with_its_queue_whether_long_polling_is_on_or_not(bool longPolling)
    {
        await using var db = await TestDatabase.CreateAsync(server);
        var options = JobStorageServiceCollectionExtensions.StorageOptions(new ConfigurationBuilder().Build());
        options.EnableLongPolling = longPolling;
        var connectionString = ConnectionUrl.Parse(db.Url).ConnectionString;
        var ours = new BatchingPostgreSqlStorage(new NpgsqlConnectionFactory(connectionString, options), options);
        var library = new PostgreSqlStorage(new NpgsqlConnectionFactory(connectionString, options), options);
        var call = DispatchOf(JobPayload.Serialize(OnePost("notify")));

        var fromOurs = await NotificationsAsync(db, () => ours.CreateEnqueuedJob(call, CreateActivityJob.Queue));
        var fromTheLibrary = await NotificationsAsync(db, () => new BackgroundJobClient(library).Create(call, new EnqueuedState(CreateActivityJob.Queue)));

        // One notification a job, naming its queue (NewJobListener wakes that queue's fetchers), on the channel the
        // library's long polling listens to and sends on, without a payload, only when it is on.
        Assert.Equal([CreateActivityJob.Queue], fromOurs);
        Assert.Equal(longPolling ? [""] : [], fromTheLibrary);
    }

    [Fact]
    public async Task An_enqueue_wakes_this_processs_fetchers_of_its_queue_as_the_librarys_commit_does()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        var options = JobStorageServiceCollectionExtensions.StorageOptions(new ConfigurationBuilder().Build());
        options.QueuePollInterval = TimeSpan.FromSeconds(30); // a fetcher that is not woken waits this long
        var storage = new BatchingPostgreSqlStorage(new NpgsqlConnectionFactory(ConnectionUrl.Parse(db.Url).ConnectionString, options), options);
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        var fetching = Task.Run(() =>
        {
            using var connection = storage.GetConnection();
            using var fetched = connection.FetchNextJob(["wake-test"], cancel.Token);
            fetched.RemoveFromQueue();
            return fetched.JobId;
        });
        await Task.Delay(TimeSpan.FromSeconds(1)); // the fetcher found nothing and waits

        var job = storage.CreateEnqueuedJob(DispatchOf("[]"), "wake-test");

        Assert.Equal(job, await fetching.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_job_created_with_parameters_has_the_rows_the_librarys_CreateExpiredJob_writes()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var provider = HangfireJobs.AsTheApi(db);
        var call = DispatchOf(JobPayload.Serialize(OnePost("parameters")));
        var parameters = new Dictionary<string, string> { ["Origin"] = "test", ["Empty"] = null! };
        var createdAt = DateTime.UtcNow;
        string ours, theirs;
        using (var connection = provider.GetRequiredService<JobStorage>().GetConnection())
        {
            ours = connection.CreateExpiredJob(call, parameters, createdAt, TimeSpan.FromHours(1));
        }
        using (var connection = HangfireJobs.LibraryStorage(db).GetConnection())
        {
            theirs = connection.CreateExpiredJob(call, parameters, createdAt, TimeSpan.FromHours(1));
        }

        // Every column of both tables but the ids, new ones included, and invocationdata without the library's second copy
        // of the arguments.
        const string Rows = """
            SELECT concat_ws(' | ', to_jsonb(j) - 'id' - 'invocationdata', j.invocationdata - 'Arguments',
                             (SELECT string_agg((to_jsonb(p) - 'id' - 'jobid')::text, ',' ORDER BY p.name) FROM hangfire.jobparameter p WHERE p.jobid = j.id))
            FROM hangfire.job j WHERE j.id =
            """;
        Assert.Equal(await db.ScalarAsync<string>(Rows + theirs), await db.ScalarAsync<string>(Rows + ours));
    }

    [Fact]
    public void No_global_client_filter_is_registered_that_the_one_statement_enqueue_would_skip()
    {
        HangfireGlobals.Configure(new ConfigurationBuilder().Build());

        Assert.Empty(GlobalJobFilters.Filters.Where(f => f.Instance is Hangfire.Client.IClientFilter).Select(f => f.Instance.GetType().Name));
    }

    // The payloads of the new-job notifications the enqueue sends.
    private static async Task<List<string>> NotificationsAsync(TestDatabase db, Action enqueue)
    {
        await using var listener = await db.DataSource.OpenConnectionAsync();
        var received = new List<string>();
        listener.Notification += (_, e) =>
        {
            if (e.Channel == BatchingPostgreSqlStorage.NewJobChannel)
            {
                received.Add(e.Payload);
            }
        };
        await using (var listen = new NpgsqlCommand($"LISTEN {BatchingPostgreSqlStorage.NewJobChannel}", listener))
        {
            await listen.ExecuteNonQueryAsync();
        }
        enqueue();
        while (await listener.WaitAsync(TimeSpan.FromSeconds(1)))
        {
        }
        return received;
    }

    private static CreateActivityJob[] OnePost(string message) =>
        [new(Guid.CreateVersion7(), "bayko", message, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1))];

    // The call HangfireJobQueue stores for a batch, for writing the same job through the library.
    private static Job DispatchOf(string payload) => Job.FromExpression<IFunctionDispatcher>(
        dispatcher => dispatcher.DispatchAsync(CreateActivityJob.Function, payload, null, null, CancellationToken.None), CreateActivityJob.Queue);
}

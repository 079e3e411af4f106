using Cruddur.Shared.Activities;
using Cruddur.Shared.Data;
using Cruddur.Shared.Jobs;
using Cruddur.Tests.Fixtures;
using Microsoft.Extensions.Configuration;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Microsoft.Extensions.DependencyInjection;

namespace Cruddur.Tests.Hosting;

/// <summary>
/// Enqueueing (the Api's group commit, a Worker's own enqueues) stores a job with one statement: its row, its Enqueued
/// state and its queue row, which Hangfire.PostgreSql's client writes in six round trips, so an enqueue that fails
/// half-way leaves nothing behind, and the rows are the ones the library's client writes. A job's arguments are written
/// once (<see cref="LeanPostgreSqlStorage"/>), and every reader of the library still finds them.
/// </summary>
public sealed class JobCreationTests(PostgresServer server)
{
    [Fact]
    public async Task An_enqueue_that_fails_at_its_state_leaves_no_job_row_behind()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var provider = AsTheApi(db);
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
        await using var provider = AsTheApi(db);
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
        await using var provider = AsTheApi(db);
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

    private static CreateActivityJob[] OnePost(string message) =>
        [new(Guid.CreateVersion7(), "bayko", message, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1))];

    // The call HangfireJobQueue stores for a batch, for writing the same job through the library.
    private static Job DispatchOf(string payload) => Job.FromExpression<IFunctionDispatcher>(
        dispatcher => dispatcher.DispatchAsync(CreateActivityJob.Function, payload, null, null, CancellationToken.None), CreateActivityJob.Queue);

    // The Api's registration: a client of the storage, no server.
    private static ServiceProvider AsTheApi(TestDatabase db)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["CONNECTION_URL"] = db.Url }).Build();
        var services = new ServiceCollection().AddLogging();
        services.AddCruddurData(configuration).AddCruddurJobStorage(configuration);
        return services.BuildServiceProvider();
    }
}

using System.Reflection;
using System.Transactions;
using Cruddur.HangfireOverrides;
using Cruddur.Shared.Data;
using Cruddur.Shared.Jobs;
using Cruddur.Tests.Fixtures;
using Cruddur.Tests.Hosting;
using Cruddur.Worker.Hosting;
using Hangfire;
using Hangfire.Common;
using Hangfire.PostgreSql;
using Hangfire.States;
using Hangfire.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Cruddur.Tests.HangfireOverrides;

/// <summary>
/// The Worker changes a job's state in one transaction (<see cref="OneTransactionStateChanger"/>), and still excludes, and waits for,
/// a process that takes the library's own lock on the job: an older Worker during a deploy, or the dashboard.
/// </summary>
public sealed class StateChangeTests(PostgresServer server)
{
    [Fact]
    public async Task A_job_whose_lock_the_library_holds_runs_after_it_is_released_once_with_the_librarys_history()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        var library = HangfireJobs.LibraryStorage(db);
        var job = new BackgroundJobClient(library).Create(
            Job.FromExpression<IFunctionDispatcher>(dispatcher => dispatcher.DispatchAsync(
                "record-context", JobPayload.Serialize(new RecordJob("held")), null, null, CancellationToken.None), "tests"),
            new EnqueuedState("tests"));
        using var libraryConnection = library.GetConnection();
        var held = libraryConnection.AcquireDistributedJobLock(job, TimeSpan.FromSeconds(5));

        await using var worker = await InProcessWorker.StartAsync(db.Url, [typeof(RecordingFunctions)], services: s => s.AddScoped<ScopedMarker>());
        var recorder = worker.Services.GetRequiredService<InvocationRecorder>();
        await Task.Delay(TimeSpan.FromSeconds(1.5)); // 30 of the test Worker's queue polls
        var whileHeld = (await HangfireJobs.StateAsync(db.DataSource, job)).State;
        var ranWhileHeld = recorder.Events.Count;
        held.Dispose();

        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(db.DataSource, job)).State);
        Assert.Equal("Enqueued", whileHeld);
        Assert.Equal(0, ranWhileHeld);
        Assert.Single(recorder.Events);
        Assert.Equal(["Enqueued", "Processing", "Succeeded"], (await HangfireJobs.StatesAsync(db.DataSource, job)).Select(s => s.State));
        var details = worker.Services.GetRequiredService<JobStorage>().GetMonitoringApi().JobDetails(job); // the dashboard's page
        Assert.Equal(["Succeeded", "Processing", "Enqueued"], details.History.Select(h => h.StateName));
        Assert.NotNull(details.ExpireAt);
        // The schedulers' own locks come and go every second; a job's state lock must not stay behind.
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM hangfire.lock WHERE resource LIKE 'hangfire:job:%'"));
    }

    [Fact]
    public async Task The_librarys_lock_waits_for_a_state_change_in_progress_and_nothing_of_its_lock_is_left()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var provider = WorkerStorage(db);
        var job = await provider.GetRequiredService<IJobQueue>().EnqueueAsync(new RecordJob("locked"));
        var storage = provider.GetRequiredService<JobStorage>();
        using var libraryConnection = HangfireJobs.LibraryStorage(db).GetConnection();

        Task<IDisposable> taking;
        bool waited;
        string? stateRead;
        // The Worker's state change, up to its writes: the job's lock taken and the job read, in the change's transaction.
        using (var connection = (BatchingPostgreSqlStorage.Connection)storage.GetConnection())
        using (var scope = new TransactionScope(TransactionScopeOption.Required, new TransactionOptions { IsolationLevel = IsolationLevel.ReadCommitted }))
        using (connection.LockForStateChange(job, TimeSpan.FromSeconds(5), CancellationToken.None))
        {
            stateRead = connection.GetJobData(job)?.State;
            taking = Task.Run(() => libraryConnection.AcquireDistributedJobLock(job, TimeSpan.FromSeconds(30)));
            Thread.Sleep(TimeSpan.FromSeconds(1)); // no await inside a transaction scope: it stays on this thread
            waited = !taking.IsCompleted;
            scope.Complete();
        }
        using var takenAfter = await taking.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(waited, "the library took the job's lock while a state change held it");
        Assert.Equal("Enqueued", stateRead);
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM hangfire.lock WHERE resource LIKE 'hangfire:job:%'")); // the library's own, now held
    }

    [Fact]
    public async Task A_jobs_life_writes_the_rows_the_librarys_own_state_changes_write()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var provider = WorkerStorage(db);
        var queue = provider.GetRequiredService<IJobQueue>();
        var lean = await queue.EnqueueAsync(new RecordJob("lean"));
        var stock = await queue.EnqueueAsync(new RecordJob("stock"));

        // The Worker's changer on its storage, then Hangfire's own on the library's storage, through the same life: a
        // failure the retry filter turns into Scheduled, a requeue, a success, a deletion.
        var storage = provider.GetRequiredService<JobStorage>();
        var library = HangfireJobs.LibraryStorage(db);
        var counters0 = await CountersAsync(db);
        Live(provider.GetRequiredService<IBackgroundJobStateChanger>(), storage, lean);
        var counters1 = await CountersAsync(db);
        Live(new BackgroundJobStateChanger(JobFilterProviders.Providers), library, stock);
        var counters2 = await CountersAsync(db);

        Assert.IsType<OneTransactionStateChanger>(provider.GetRequiredService<IBackgroundJobStateChanger>());
        Assert.Equal(await RowsAsync(db, stock, library.JobExpirationTimeout), await RowsAsync(db, lean, storage.JobExpirationTimeout));
        Assert.NotEmpty(Added(counters0, counters1));
        Assert.Equal(Added(counters1, counters2), Added(counters0, counters1));
    }

    [Fact]
    public async Task A_state_change_cut_off_mid_way_frees_the_jobs_lock_after_the_servers_idle_timeout()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        // The Worker reaches the database through a relay that can fall silent, as a partition or a lost host does.
        await using var network = new TcpForwarder(server.Host, server.Port);
        network.Start();
        await using var provider = WorkerStorage(db, db.Url.Replace($":{server.Port}/", $":{network.Port}/", StringComparison.Ordinal));
        var job = await provider.GetRequiredService<IJobQueue>().EnqueueAsync(new RecordJob("cut off"));
        var storage = provider.GetRequiredService<JobStorage>();
        using var libraryConnection = HangfireJobs.LibraryStorage(db).GetConnection();
        var cutOff = TimeSpan.FromSeconds(1) + HangfireBookkeepingPool.IdleInTransactionTimeout + TimeSpan.FromSeconds(10);

        using var locked = new ManualResetEventSlim();
        var stateChange = Task.Run(() =>
        {
            using var connection = (BatchingPostgreSqlStorage.Connection)storage.GetConnection();
            using var scope = new TransactionScope(TransactionScopeOption.Required, new TransactionOptions { IsolationLevel = IsolationLevel.ReadCommitted });
            using var held = connection.LockForStateChange(job, TimeSpan.FromSeconds(5), CancellationToken.None);
            locked.Set();
            Thread.Sleep(cutOff); // its next statement would never arrive
        });
        Assert.True(locked.Wait(TimeSpan.FromSeconds(10)), "the state change took the job's lock");
        await network.SilenceAsync();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var taken = await Task.Run(() => libraryConnection.AcquireDistributedJobLock(job, cutOff));
        var waited = clock.Elapsed;
        await Record.ExceptionAsync(() => stateChange); // its session is gone

        // Another Worker, or the dashboard, takes the job's lock once the server ends the transaction nobody will finish
        // (with the server's defaults it waited until the state change's own end here, and for hours after a lost host).
        Assert.InRange(waited, HangfireBookkeepingPool.IdleInTransactionTimeout - TimeSpan.FromSeconds(1), HangfireBookkeepingPool.IdleInTransactionTimeout + TimeSpan.FromSeconds(8));
    }

    [Fact]
    public async Task A_state_changes_lock_is_the_row_and_name_the_librarys_lock_takes()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var provider = WorkerStorage(db);
        var job = await provider.GetRequiredService<IJobQueue>().EnqueueAsync(new RecordJob("named"));
        var storage = provider.GetRequiredService<BatchingPostgreSqlStorage>();

        string? libraryRow;
        using (var libraryConnection = HangfireJobs.LibraryStorage(db).GetConnection())
        using (libraryConnection.AcquireDistributedJobLock(job, TimeSpan.FromSeconds(5)))
        {
            libraryRow = await db.ScalarAsync<string>("SELECT resource FROM hangfire.lock WHERE resource LIKE 'hangfire:job:%'");
        }

        Assert.Equal(storage.JobLockResource(job), libraryRow);
    }

    [Fact]
    public async Task The_librarys_writes_join_the_state_changes_transaction_scope_and_commit_only_with_it()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var provider = WorkerStorage(db);
        var storage = provider.GetRequiredService<JobStorage>();

        void Write(string value, bool complete)
        {
            using var scope = new TransactionScope(TransactionScopeOption.Required, new TransactionOptions { IsolationLevel = IsolationLevel.ReadCommitted });
            using var connection = storage.GetConnection();
            using var transaction = connection.CreateWriteTransaction();
            transaction.AddToSet("enlistment", value);
            transaction.Commit();
            if (complete)
            {
                scope.Complete();
            }
        }
        Write("rolled back", complete: false);
        Write("committed", complete: true);

        Assert.True(new PostgreSqlStorageOptions().EnableTransactionScopeEnlistment, "the library's default changed");
        Assert.True(JobStorageServiceCollectionExtensions.StorageOptions(new ConfigurationBuilder().Build()).EnableTransactionScopeEnlistment);
        Assert.Equal("committed", await db.ScalarAsync<string>("SELECT string_agg(value, ',') FROM hangfire.set WHERE key = 'enlistment'"));
    }

    [Fact]
    public async Task The_job_a_state_change_reads_with_its_lock_is_the_job_the_library_reads()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var provider = WorkerStorage(db);
        var job = await provider.GetRequiredService<IJobQueue>().EnqueueAsync(new RecordJob("read \"once\""));
        var storage = provider.GetRequiredService<JobStorage>();
        using var libraryConnection = HangfireJobs.LibraryStorage(db).GetConnection();
        var theirs = libraryConnection.GetJobData(job);

        JobData? ours;
        using (var connection = (BatchingPostgreSqlStorage.Connection)storage.GetConnection())
        using (var scope = new TransactionScope(TransactionScopeOption.Required, new TransactionOptions { IsolationLevel = IsolationLevel.ReadCommitted }))
        using (connection.LockForStateChange(job, TimeSpan.FromSeconds(5), CancellationToken.None))
        {
            ours = connection.GetJobData(job);
            scope.Complete();
        }

        Assert.NotNull(ours);
        Assert.Equal((theirs.State, theirs.CreatedAt, theirs.Job.Type, theirs.Job.Method, theirs.Job.Queue, theirs.LoadException),
            (ours.State, ours.CreatedAt, ours.Job.Type, ours.Job.Method, ours.Job.Queue, ours.LoadException));
        Assert.Equal(theirs.Job.Args, ours.Job.Args);
    }

    [Fact]
    public async Task A_state_change_reads_the_jobs_parameters_with_it_as_the_snapshot_hangfires_filters_use()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var provider = WorkerStorage(db);
        var job = await provider.GetRequiredService<IJobQueue>().EnqueueAsync(new RecordJob("parameters"));
        var storage = provider.GetRequiredService<JobStorage>();
        using var libraryConnection = HangfireJobs.LibraryStorage(db).GetConnection();
        libraryConnection.SetJobParameter(job, "RetryCount", "2");
        libraryConnection.SetJobParameter(job, "Continuations", "[]");
        libraryConnection.SetJobParameter(job, "Empty", null);
        var bare = await provider.GetRequiredService<IJobQueue>().EnqueueAsync(new RecordJob("no parameters"));

        using var connection = (BatchingPostgreSqlStorage.Connection)storage.GetConnection();
        JobData? ReadLocked(string id) // what a state change reads, the job's lock held
        {
            using var scope = new TransactionScope(TransactionScopeOption.Required, new TransactionOptions { IsolationLevel = IsolationLevel.ReadCommitted });
            using var locked = connection.LockForStateChange(id, TimeSpan.FromSeconds(5), CancellationToken.None);
            var read = connection.GetJobData(id);
            scope.Complete();
            return read;
        }
        var ours = ReadLocked(job);
        libraryConnection.SetJobParameter(job, "RetryCount", "3"); // between two state changes, as the retry filter does
        var oursAgain = ReadLocked(job); // the second change of a job reads its state, not its call
        var oursBare = ReadLocked(bare);

        Assert.Null(libraryConnection.GetJobData(job).ParametersSnapshot); // the library's read has none: a query per parameter
        Assert.Equal(
            new Dictionary<string, string?> { ["Continuations"] = "[]", ["Empty"] = null, ["RetryCount"] = "2" },
            ours?.ParametersSnapshot?.OrderBy(p => p.Key, StringComparer.Ordinal).ToDictionary());
        Assert.Equal("3", oursAgain?.ParametersSnapshot?["RetryCount"]);
        Assert.Empty(oursBare?.ParametersSnapshot ?? throw new InvalidOperationException("no snapshot for a job without parameters"));
    }

    // The job storage as the Worker registers it: its changer, its connections.
    private static ServiceProvider WorkerStorage(TestDatabase db, string? url = null)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["CONNECTION_URL"] = url ?? db.Url }).Build();
        var services = new ServiceCollection().AddLogging();
        services.AddCruddurData(configuration)
            .AddHangfireBookkeepingPool(configuration, poolSize: 12)
            .AddCruddurJobStorage(configuration, dataSource: HangfireBookkeepingPool.Resolve)
            .AddOneTransactionStateChanges();
        return services.BuildServiceProvider();
    }

    private static void Live(IBackgroundJobStateChanger changer, JobStorage storage, string job)
    {
        using var connection = storage.GetConnection();
        IState[] life =
        [
            Processing(), new FailedState(new InvalidOperationException("boom")), new EnqueuedState("tests"),
            Processing(), new SucceededState(null, 1, 2), new DeletedState(),
        ];
        foreach (var state in life)
        {
            Assert.NotNull(changer.ChangeState(new StateChangeContext(storage, connection, job, state)));
        }
    }

    // Hangfire's worker makes this state; its constructor is internal.
    private static ProcessingState Processing() => (ProcessingState)Activator.CreateInstance(
        typeof(ProcessingState), BindingFlags.NonPublic | BindingFlags.Instance, null, ["server", "worker"], null)!;

    // Everything a state change writes about the job, without ids and times: its states (name, reason, the data's keys),
    // whether the job points at its last state and expires after its storage's retention (to the minute), its queue rows
    // and the sets it is in.
    private static async Task<List<string>> RowsAsync(TestDatabase db, string job, TimeSpan retention)
    {
        await using var command = db.DataSource.CreateCommand($"""
            SELECT 'state ' || (to_jsonb(s) - 'id' - 'jobid' - 'createdat' - 'data')::text || ' | ' || (SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(s.data) k)
            FROM hangfire.state s WHERE s.jobid = {job}
            UNION ALL
            SELECT 'job ' || (to_jsonb(j) - 'id' - 'stateid' - 'createdat' - 'expireat' - 'invocationdata' - 'arguments')::text || ' | last state ' || (j.stateid = (SELECT max(id) FROM hangfire.state WHERE jobid = j.id))
                || ' | expires ' || coalesce((round(extract(epoch FROM j.expireat - now()) / 60) = {(long)retention.TotalMinutes})::text, 'never')
            FROM hangfire.job j WHERE j.id = {job}
            UNION ALL
            SELECT 'queue ' || (to_jsonb(q) - 'id' - 'jobid' - 'fetchedat')::text || ' | fetched ' || (q.fetchedat IS NOT NULL) FROM hangfire.jobqueue q WHERE q.jobid = {job}
            UNION ALL
            SELECT 'set ' || key FROM hangfire.set WHERE value = '{job}'
            """);
        var rows = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetString(0));
        }
        rows.Sort(StringComparer.Ordinal);
        return rows;
    }

    private static async Task<Dictionary<string, long>> CountersAsync(TestDatabase db)
    {
        await using var command = db.DataSource.CreateCommand(
            "SELECT key || ' | expires ' || (expireat IS NOT NULL), sum(value) FROM hangfire.counter GROUP BY 1");
        var counters = new Dictionary<string, long>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            counters[reader.GetString(0)] = reader.GetInt64(1);
        }
        return counters;
    }

    private static List<string> Added(Dictionary<string, long> before, Dictionary<string, long> after) =>
        after.Where(c => c.Value != before.GetValueOrDefault(c.Key)).Select(c => $"{c.Key}: {c.Value - before.GetValueOrDefault(c.Key)}")
            .Order(StringComparer.Ordinal).ToList();
}

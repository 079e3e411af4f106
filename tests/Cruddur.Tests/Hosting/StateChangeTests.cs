using System.Transactions;
using Cruddur.Shared.Data;
using Cruddur.Shared.Jobs;
using Cruddur.Tests.Fixtures;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Hangfire.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Cruddur.Tests.Hosting;

/// <summary>
/// The Worker changes a job's state in one transaction (<see cref="LeanStateChanger"/>), and still excludes, and waits for,
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
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["CONNECTION_URL"] = db.Url }).Build();
        var services = new ServiceCollection().AddLogging();
        services.AddCruddurData(configuration).AddCruddurJobStorage(configuration, runsJobs: true);
        await using var provider = services.BuildServiceProvider();
        var job = await provider.GetRequiredService<IJobQueue>().EnqueueAsync(new RecordJob("locked"));
        var storage = provider.GetRequiredService<JobStorage>();
        using var libraryConnection = HangfireJobs.LibraryStorage(db).GetConnection();

        Task<IDisposable> taking;
        bool waited;
        string? stateRead;
        // The Worker's state change, up to its writes: the job's lock taken and the job read, in the change's transaction.
        using (var connection = (LeanPostgreSqlStorage.Connection)storage.GetConnection())
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
}

using Cruddur.Shared.Activities;
using Cruddur.Shared.Data;
using Cruddur.Shared.Jobs;
using Cruddur.Tests.Fixtures;
using Cruddur.Worker.Activities;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Cruddur.Tests.Hosting;

/// <summary>
/// Which commits wait for the disk. The enqueue a 202 promises, a function's own writes and the job's Processing state are
/// durable when they return; the rest of the Worker's Hangfire bookkeeping (fetch, Succeeded) is not, because a crash that
/// loses it only makes the job run again. A lost Processing would not: the job's next state, which expects it, would be
/// refused and the job dropped from its queue. Triggers record the synchronous_commit of the session that really wrote each row.
/// </summary>
public sealed class CommitDurabilityTests(PostgresServer server)
{
    [Fact]
    public async Task Enqueues_function_writes_and_Processing_wait_for_the_disk_and_the_Workers_other_state_changes_do_not()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        // The shared test cluster runs without synchronous commits (for speed); this database runs with them, as a real one.
        await db.ExecuteAsync("""
            DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = on', current_database()); END $$;
            CREATE TABLE public.commit_modes (what text NOT NULL, synchronous_commit text NOT NULL);
            CREATE FUNCTION public.record_state_commit_mode() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO public.commit_modes VALUES ('state ' || NEW.name, current_setting('synchronous_commit')); RETURN NULL; END $$;
            CREATE TRIGGER record_commit_mode AFTER INSERT ON hangfire.state FOR EACH ROW EXECUTE FUNCTION public.record_state_commit_mode();
            CREATE FUNCTION public.record_activity_commit_mode() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO public.commit_modes VALUES ('activity', current_setting('synchronous_commit')); RETURN NULL; END $$;
            CREATE TRIGGER record_commit_mode AFTER INSERT ON public.activities FOR EACH ROW EXECUTE FUNCTION public.record_activity_commit_mode();
            """);
        // The Api's registration: a client of the storage, no server.
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["CONNECTION_URL"] = db.Url }).Build();
        var services = new ServiceCollection().AddLogging();
        services.AddCruddurData(configuration).AddCruddurJobStorage(configuration);
        await using var api = services.BuildServiceProvider();
        var now = DateTimeOffset.UtcNow;
        var uuid = Guid.CreateVersion7();
        await api.GetRequiredService<IJobQueue>().EnqueueBatchAsync<CreateActivityJob>([new(uuid, "bayko", "durable", now, now.AddDays(1))]);

        await using var worker = await InProcessWorker.StartAsync(db.Url, [typeof(ActivityFunctions)]);
        await Eventually.HoldsAsync(
            async () => await db.ScalarAsync<long>("SELECT count(*) FROM public.commit_modes WHERE what = 'state Succeeded'") == 1,
            "the job's Succeeded state");

        var modes = await ModesAsync(db);
        Assert.Equal(
            ["activity: on", "state Enqueued: on", "state Processing: on", "state Succeeded: off"],
            modes);
        Assert.Equal(1L, await db.ScalarAsync<long>($"SELECT count(*) FROM public.activities WHERE uuid = '{uuid}'"));
    }

    private static async Task<List<string>> ModesAsync(TestDatabase db)
    {
        await using var command = db.DataSource.CreateCommand(
            "SELECT what || ': ' || synchronous_commit FROM public.commit_modes ORDER BY 1");
        await using var reader = await command.ExecuteReaderAsync();
        var modes = new List<string>();
        while (await reader.ReadAsync())
        {
            modes.Add(reader.GetString(0));
        }
        return modes;
    }
}

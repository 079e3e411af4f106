using Cruddur.Shared.Data;
using Cruddur.Tests.Fixtures;

namespace Cruddur.Tests.Hosting;

/// <summary>The Worker as separate processes, started and stopped as an operator would.</summary>
public class WorkerProcessTests(PostgresServer server)
{
    private static readonly TimeSpan Started = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task A_database_that_refuses_the_workers_password_stops_it_with_one_line_naming_the_error()
    {
        await using var db = await TestDatabase.CreateAsync(server, migrate: false);
        var wrong = new UriBuilder(db.Url) { Password = "not-the-password" }.Uri.ToString();

        await using var worker = ServiceProcess.StartWorker(wrong);
        var exitCode = await worker.WaitForExitAsync(Started);

        Assert.True(exitCode == 1, worker.Output);
        Assert.Contains("Cruddur.Worker did not start: 28P01", worker.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", worker.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("not-the-password", worker.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Three_workers_started_together_on_an_empty_database_seed_it_once_serve_and_exit_cleanly_on_sigterm()
    {
        await using var db = await TestDatabase.CreateAsync(server, migrate: false);

        var workers = Enumerable.Range(0, 3).Select(_ => ServiceProcess.StartWorker(db.Url)).ToList();
        try
        {
            await Task.WhenAll(workers.Select(w => w.WaitForOutputAsync("all the dispatchers started", Started)));

            Assert.Equal(3L, await db.ScalarAsync<long>("SELECT count(*) FROM hangfire.server"));
            Assert.Equal(2L, await db.ScalarAsync<long>("SELECT count(*) FROM users"));
            Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM activities"));
            Assert.Equal(1L, await db.ScalarAsync<long>($"SELECT count(*) FROM public.{DatabaseMigrator.JournalTable} WHERE scriptname = 'seed.sql'"));

            var exits = await Task.WhenAll(workers.Select(w => w.TerminateAsync(TimeSpan.FromSeconds(30))));

            Assert.All(exits, exit => Assert.Equal(0, exit.ExitCode));
            Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM hangfire.server"));
        }
        finally
        {
            foreach (var worker in workers)
            {
                await worker.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_restarted_worker_keeps_every_row_and_does_not_seed_again()
    {
        await using var db = await TestDatabase.CreateAsync(server, migrate: false);
        await using (var first = ServiceProcess.StartWorker(db.Url))
        {
            await first.WaitForOutputAsync("all the dispatchers started", Started);
            await db.ExecuteAsync("INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES ('Kept', 'kept', 'kept@example.com', 'sub-kept')");
            await db.ExecuteAsync("DELETE FROM activities"); // a user's own change to seeded data must survive too
            Assert.Equal(0, (await first.TerminateAsync(TimeSpan.FromSeconds(30))).ExitCode);
        }

        await using var second = ServiceProcess.StartWorker(db.Url);
        await second.WaitForOutputAsync("all the dispatchers started", Started);

        Assert.Equal(3L, await db.ScalarAsync<long>("SELECT count(*) FROM users"));
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM activities"));
        Assert.Contains("0 migration(s) applied", second.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_connection_url_stops_the_worker_with_a_message_and_no_password()
    {
        await using var worker = ServiceProcess.StartWorker("postgresql://cruddur:s3cret-pw@127.0.0.1:1/x?sslmode=sometimes");

        var exitCode = await worker.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.True(exitCode == 1, worker.Output);
        Assert.Contains("sslmode 'sometimes'", worker.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret-pw", worker.Output, StringComparison.Ordinal);
    }
}

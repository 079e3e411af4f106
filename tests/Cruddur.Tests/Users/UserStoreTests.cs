using Cruddur.Shared.Resilience;
using Cruddur.Shared.Users;
using Cruddur.Tests.Fixtures;
using Cruddur.Worker.Users;
using Microsoft.Extensions.DependencyInjection;
using Polly.Registry;

namespace Cruddur.Tests.Users;

/// <summary>What the Worker's ingest-cognito-user function does with a job, against real Postgres.</summary>
public class UserStoreTests(PostgresServer server)
{
    private static readonly IngestCognitoUserJob Andrew = new("sub-andrew-new", "andrew@example.com", "Andrew New", "andrewnew");

    [Fact]
    public async Task A_job_becomes_one_user_with_the_right_columns()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var store = Store(db);

        var uuid = await store.UpsertAsync(Andrew, TestContext.Current.CancellationToken);

        Assert.Equal(
            $"{uuid}|Andrew New|andrewnew|andrew@example.com|sub-andrew-new",
            await db.ScalarAsync<string>("SELECT concat_ws('|', uuid, display_name, handle, email, cognito_user_id) FROM users WHERE cognito_user_id = 'sub-andrew-new'"));
    }

    [Fact]
    public async Task The_same_event_twice_makes_one_user()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var store = Store(db);

        var first = await store.UpsertAsync(Andrew, TestContext.Current.CancellationToken);
        var second = await store.UpsertAsync(Andrew, TestContext.Current.CancellationToken);

        Assert.Equal(first, second);
        Assert.Equal(3L, await db.ScalarAsync<long>("SELECT count(*) FROM users")); // two seeded, one new
    }

    [Fact]
    public async Task An_updated_email_and_name_update_the_row()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var store = Store(db);
        var first = await store.UpsertAsync(Andrew, TestContext.Current.CancellationToken);

        var second = await store.UpsertAsync(Andrew with { Email = "andrew@new.example.com", DisplayName = "Andrew Renamed" }, TestContext.Current.CancellationToken);

        Assert.Equal(first, second);
        Assert.Equal("Andrew Renamed|andrew@new.example.com", await db.ScalarAsync<string>(
            "SELECT display_name || '|' || email FROM users WHERE cognito_user_id = 'sub-andrew-new'"));
        Assert.Equal(3L, await db.ScalarAsync<long>("SELECT count(*) FROM users"));
    }

    [Fact]
    public async Task The_same_event_run_by_several_workers_at_once_makes_one_user()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var store = Store(db);

        var uuids = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => store.UpsertAsync(Andrew, TestContext.Current.CancellationToken))));

        Assert.Single(uuids.Distinct());
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM users WHERE cognito_user_id = 'sub-andrew-new'"));
    }

    [Fact]
    public async Task A_handle_taken_by_another_cognito_user_is_a_clear_permanent_error_naming_the_handle_not_the_email()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var store = Store(db);
        var taken = Andrew with { Handle = "andrewbrown", Email = "private.person@example.com" }; // the seed's andrewbrown

        var error = await Assert.ThrowsAsync<HandleTakenException>(() => store.UpsertAsync(taken, TestContext.Current.CancellationToken));

        Assert.Equal("andrewbrown", error.Handle);
        Assert.Contains("'andrewbrown' is already taken", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("private.person", error.ToString(), StringComparison.Ordinal);
        Assert.False(TransientErrors.IsTransient(error));
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM users WHERE cognito_user_id = 'sub-andrew-new'"));
    }

    private static UserStore Store(TestDatabase db)
    {
        var services = new ServiceCollection().AddLogging().AddDatabaseResilience().BuildServiceProvider();
        return new UserStore(db.Db, services.GetRequiredService<ResiliencePipelineProvider<string>>());
    }
}

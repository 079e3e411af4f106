using Cruddur.Shared.Users;
using Cruddur.Tests.Fixtures;
using static Cruddur.Tests.Fixtures.CognitoEvents;

namespace Cruddur.Tests.Users;

/// <summary>A Cognito sign-up from SQS to the users table: the Api's ingress and the Worker's ingest-cognito-user.</summary>
public sealed class CognitoSignUpTests(PostgresServer server, MotoServer moto) : IAsyncLifetime
{
    private SignUpStack _stack = null!;

    public async ValueTask InitializeAsync() => _stack = await SignUpStack.StartAsync(server, moto, "sign-ups");
    public ValueTask DisposeAsync() => _stack.DisposeAsync();

    [Fact]
    public async Task A_sign_up_becomes_one_user_the_same_event_again_changes_nothing_and_an_update_updates_it()
    {
        await _stack.Sqs.SendAsync(_stack.Queue, [PostConfirmation(handle: "ray", email: "ray@example.com", name: "Ray Example", sub: "sub-ray")]);
        await EventuallyAsync("SELECT count(*) FROM users WHERE handle = 'ray'", 1);
        var row = await _stack.Db.ScalarAsync<string>("SELECT concat_ws('|', display_name, handle, email, cognito_user_id) FROM users WHERE handle = 'ray'");
        var uuid = await _stack.Db.ScalarAsync<Guid>("SELECT uuid FROM users WHERE handle = 'ray'");

        await _stack.Sqs.SendAsync(_stack.Queue, [PostConfirmation(handle: "ray", email: "ray@example.com", name: "Ray Example", sub: "sub-ray")]);
        // The update only after the redelivery is stored: a standard queue does not keep order, and two events of one
        // user that race are last-writer-wins (docs/architecture.md), which is not what this test is about.
        await Eventually.ReachesAsync(() => StoredJob.SignUpsAsync(_stack.Db), signUps => signUps.Count >= 2, "the redelivered sign-up enqueued");
        await EventuallyAsync("SELECT count(*) FROM hangfire.job WHERE statename IS DISTINCT FROM 'Succeeded'", 0);
        Assert.Equal(row, await _stack.Db.ScalarAsync<string>("SELECT concat_ws('|', display_name, handle, email, cognito_user_id) FROM users WHERE handle = 'ray'"));
        await _stack.Sqs.SendAsync(_stack.Queue, [PostConfirmation(handle: "ray", email: "ray@new.example.com", name: "Ray Example", sub: "sub-ray")]);
        await EventuallyAsync("SELECT count(*) FROM users WHERE email = 'ray@new.example.com'", 1);

        Assert.Equal("Ray Example|ray|ray@example.com|sub-ray", row);
        Assert.Equal(1L, await _stack.Db.ScalarAsync<long>("SELECT count(*) FROM users WHERE cognito_user_id = 'sub-ray'"));
        Assert.Equal(uuid, await _stack.Db.ScalarAsync<Guid>("SELECT uuid FROM users WHERE handle = 'ray'"));
        // Three sign-ups enqueued, and every job succeeded: the row is committed a moment before Hangfire records
        // the job's success.
        Assert.Equal(3, (await Eventually.ReachesAsync(() => StoredJob.SignUpsAsync(_stack.Db), signUps => signUps.Count >= 3, "three sign-ups enqueued")).Count);
        await EventuallyAsync("SELECT count(*) FROM hangfire.job WHERE statename IS DISTINCT FROM 'Succeeded'", 0);
    }

    [Fact]
    public async Task A_handle_taken_by_another_user_fails_its_job_once_with_the_reason()
    {
        await _stack.Sqs.SendAsync(_stack.Queue, [PostConfirmation(handle: "andrewbrown", email: "impostor@example.com", name: "Not Andrew", sub: "sub-impostor")]);
        await EventuallyAsync("SELECT count(*) FROM hangfire.job WHERE statename = 'Failed'", 1);

        var reason = await _stack.Db.ScalarAsync<string>("SELECT s.reason FROM hangfire.job j JOIN hangfire.state s ON s.id = j.stateid");
        Assert.Contains("The handle 'andrewbrown' is already taken", reason, StringComparison.Ordinal);
        Assert.DoesNotContain("impostor@example.com", reason, StringComparison.Ordinal);
        Assert.Equal(0L, await _stack.Db.ScalarAsync<long>("SELECT count(*) FROM hangfire.state WHERE name = 'Scheduled'"));
        Assert.Equal(1L, await _stack.Db.ScalarAsync<long>("SELECT count(*) FROM users WHERE handle = 'andrewbrown'"));
    }

    [Fact]
    public async Task In_a_batch_a_taken_handle_is_split_out_and_fails_alone_while_the_rest_are_stored()
    {
        IngestCognitoUserJob[] batch =
        [
            new("sub-ann", "ann@example.com", "Ann", "ann"),
            new("sub-impostor", "impostor@example.com", "Not Andrew", "andrewbrown"),
            new("sub-bob", "bob@example.com", "Bob", "bob"),
        ];

        var jobId = await _stack.Worker.Jobs.EnqueueBatchAsync(batch, TestContext.Current.CancellationToken);

        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(_stack.Db.DataSource, jobId)).State);
        Assert.Equal(2L, await _stack.Db.ScalarAsync<long>("SELECT count(*) FROM users WHERE cognito_user_id IN ('sub-ann', 'sub-bob')"));
        await EventuallyAsync("SELECT count(*) FROM hangfire.job WHERE statename = 'Failed'", 1);
        var reason = await _stack.Db.ScalarAsync<string>("SELECT s.reason FROM hangfire.job j JOIN hangfire.state s ON s.id = j.stateid WHERE j.statename = 'Failed'");
        Assert.Contains("The handle 'andrewbrown' is already taken by another user; cognito user sub-impostor", reason, StringComparison.Ordinal);
        Assert.Equal(2L, await _stack.Db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job"));
        Assert.Equal(0L, await _stack.Db.ScalarAsync<long>("SELECT count(*) FROM users WHERE cognito_user_id = 'sub-impostor'"));
    }

    private async Task EventuallyAsync(string countSql, long expected) =>
        await Eventually.ReachesAsync(() => _stack.Db.ScalarAsync<long>(countSql), count => count == expected, $"'{countSql}' = {expected}");
}

using Cruddur.Shared.Users;
using Cruddur.Tests.Fixtures;
using Cruddur.Tests.Users;

namespace Cruddur.Tests.Chaos;

/// <summary>
/// Cognito sign-ups delivered more than once: every event sent twice, the Api killed between enqueueing and
/// deleting (its messages come back after the visibility timeout), the Worker killed mid-ingest. One user each.
/// </summary>
[Trait("Category", "Chaos")]
[Collection(ChaosSettings.Serial)]
public sealed class SqsRedeliveryTests(PostgresServer server, MotoServer moto)
{
    [Fact]
    public async Task Each_sign_up_makes_one_user_though_delivered_twice_and_the_Api_and_Worker_are_killed()
    {
        const int users = 300;
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        using var sqs = new SqsQueues(moto);
        var queue = await sqs.CreateAsync("chaos-users", visibilityTimeoutSeconds: 3);
        var deadLetters = await sqs.CreateAsync("chaos-users-dlq");
        var environment = new Dictionary<string, string?>(moto.Environment)
        {
            ["COGNITO_USERS_QUEUE_URL"] = queue,
            ["COGNITO_USERS_DLQ_URL"] = deadLetters,
            ["COGNITO_USERS_WAIT_SECONDS"] = "1",
            ["HANGFIRE_INVISIBILITY_TIMEOUT_SECONDS"] = "15",
        };
        await using var worker = new RestartableProcess(ServiceProcess.StartWorker(db.Url, ChaosSettings.Worker()));
        var port = PortAllocator.Free();
        await using var api = new RestartableProcess(await ServiceProcess.StartApiAsync(db.Url, port, environment));

        var events = Enumerable.Range(0, users).Select(Event).ToList();
        var random = new Random(13);
        var messages = events.Concat(events).OrderBy(_ => random.Next()).ToList();
        var sending = sqs.SendAsync(queue, messages);
        await Task.Delay(random.Next(500, 1500));
        await api.KillAndRestartAsync(() => ServiceProcess.StartApiAsync(db.Url, port, environment));
        await Task.Delay(random.Next(300, 1000));
        await worker.KillAndRestartAsync(() => ServiceProcess.StartWorker(db.Url, ChaosSettings.Worker()));
        var acknowledged = await sending;

        var stored = (await Eventually.ReachesAsync(
            async () => (Users: await db.ScalarAsync<long>("SELECT count(*) FROM public.users WHERE starts_with(handle, 'chaos_d_')"), InQueue: await sqs.CountAsync(queue)),
            seen => seen.Users >= users && seen.InQueue == 0, $"{users} users stored and the queue empty (users, in queue)", TimeSpan.FromSeconds(180))).Users;
        var ingestJobs = (await StoredJob.ReadAllAsync(db)).Where(job => job.Function == IngestCognitoUserJob.Function).ToList();
        var enqueued = ingestJobs.Sum(job => job.SignUps.Count);
        var distinct = await db.ScalarAsync<long>("SELECT count(DISTINCT cognito_user_id) FROM public.users WHERE starts_with(handle, 'chaos_d_')");
        var deadLettered = (await sqs.DrainAsync(deadLetters)).Count;
        new ChaosCounts("(d) SQS each event twice, Api and Worker kill -9", messages.Count, acknowledged, stored, stored - distinct, users - distinct,
            $"{users} distinct sign-ups, {enqueued} enqueued in {ingestJobs.Count} ingest jobs (every extra one a redelivery made harmless), dead-lettered {deadLettered}").Report();
        await api.DisposeAsync();
        await worker.DisposeAsync();

        Assert.Equal(messages.Count, acknowledged);
        Assert.Equal(users, stored);
        Assert.Equal(users, distinct);
        Assert.Equal(0, deadLettered);
        Assert.True(enqueued >= users * 2, $"{enqueued} sign-ups enqueued for {users * 2} messages: some message was deleted without its job");
    }

    private static string Event(int i) => CognitoEvents.PostConfirmation(
        handle: $"chaos_d_{i}",
        email: $"chaos_d_{i}@example.com",
        name: $"Chaos D {i}",
        sub: new Guid(i, 0xd, 0xd, [0, 0, 0, 0, 0, 0, 0, 1]).ToString());
}

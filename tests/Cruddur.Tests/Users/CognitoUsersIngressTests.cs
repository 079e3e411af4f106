using System.Diagnostics;
using Cruddur.Api.Users;
using Cruddur.HangfireOverrides;
using Cruddur.Shared.Data;
using Cruddur.Shared.Jobs;
using Cruddur.Shared.Users;
using Cruddur.Tests.Fixtures;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using static Cruddur.Tests.Fixtures.CognitoEvents;

namespace Cruddur.Tests.Users;

/// <summary>The Api's SQS ingress, in a small host with the Api's registrations, against moto_server and real Postgres.</summary>
public sealed class CognitoUsersIngressTests(PostgresServer server, MotoServer moto) : IDisposable
{
    private readonly SqsQueues _sqs = new(moto);
    private readonly LogCollector _logs = new();

    [Fact]
    public async Task A_sent_event_becomes_an_ingest_cognito_user_job_on_the_users_queue_and_leaves_sqs()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var queue = await _sqs.CreateAsync("ingress-one");
        await _sqs.SendAsync(queue, [PostConfirmation(handle: "newbie", email: "newbie.private@example.com", name: "New Bie", sub: "sub-newbie")]);

        using var host = await StartIngressAsync(db.Url, queue);
        await EventuallyAsync(async () => await StoredJob.CountAsync(db) >= 1 && await _sqs.CountAsync(queue) == 0);

        var job = Assert.Single(await StoredJob.ReadAllAsync(db));
        Assert.Equal(("ingest-cognito-user", "users"), (job.Function, job.Queue));
        Assert.Equal(new IngestCognitoUserJob("sub-newbie", "newbie.private@example.com", "New Bie", "newbie"), Assert.Single(job.SignUps));
        Assert.Contains(_logs.Lines, line => line.Message.StartsWith("Cognito users ingress enabled", StringComparison.Ordinal));
        Assert.DoesNotContain(_logs.Lines, line => line.Message.Contains("newbie.private", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Each_body_that_cannot_be_a_user_goes_to_the_dead_letter_queue_with_its_reason_and_a_good_message_after_them_is_still_enqueued()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var queue = await _sqs.CreateAsync("ingress-bad");
        var dlq = await _sqs.CreateAsync("ingress-bad-dlq");
        var bad = new Dictionary<string, string>
        {
            ["not json"] = "the body is not JSON",
            ["[\"an array\"]"] = "the body is not a JSON object (array)",
            [PostConfirmation(sub: "")] = "request.userAttributes.sub is blank",
            [PostConfirmation(triggerSource: "PreSignUp_SignUp")] = "triggerSource 'PreSignUp_SignUp' is not a post confirmation",
            [PostConfirmation().Replace("\"name\":\"Andrew Brown\"", "\"name\":17", StringComparison.Ordinal)] = "request.userAttributes.name is not a string (number)",
            [PostConfirmation().Replace("\"preferred_username\"", "\"nickname\"", StringComparison.Ordinal)] = "request.userAttributes.preferred_username is missing",
            [PostConfirmation(email: "bad.person-at-example.com")] = "request.userAttributes.email is not an email address",
        };
        await _sqs.SendAsync(queue, bad.Keys);
        await _sqs.SendAsync(queue, [PostConfirmation(handle: "survivor", sub: "sub-survivor")]);

        using var host = await StartIngressAsync(db.Url, queue, dlq);
        await EventuallyAsync(async () => await _sqs.CountAsync(queue) == 0 && await _sqs.CountAsync(dlq) == bad.Count);

        var deadLetters = await _sqs.DrainAsync(dlq);
        Assert.Equal(bad.Count, deadLetters.Count);
        foreach (var letter in deadLetters)
        {
            Assert.Equal(bad[letter.Body], letter.MessageAttributes[CognitoUsersIngressOptions.RejectReasonAttribute].StringValue);
        }
        Assert.Equal("sub-survivor", Assert.Single(await StoredJob.SignUpsAsync(db)).CognitoUserId);
        Assert.DoesNotContain(_logs.Lines, line => line.Message.Contains("bad.person", StringComparison.Ordinal));
    }

    [Fact]
    public async Task With_a_user_pool_set_a_sign_up_from_another_pool_goes_to_the_dead_letter_queue_and_overwrites_no_one()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var queue = await _sqs.CreateAsync("ingress-pool");
        var dlq = await _sqs.CreateAsync("ingress-pool-dlq");
        // Anyone with sqs:SendMessage on the queue could forge a sign-up that takes over the seed's @andrewbrown.
        var forged = PostConfirmation(handle: "andrewbrown", email: "attacker@example.com", sub: "MOCK-andrewbrown")
            .Replace("\"userPoolId\":\"us-east-1_Example\"", "\"userPoolId\":\"us-east-1_Forged\"", StringComparison.Ordinal);
        var noPool = PostConfirmation(handle: "nopool", sub: "sub-nopool").Replace("\"userPoolId\":\"us-east-1_Example\",", "", StringComparison.Ordinal);
        await _sqs.SendAsync(queue, [forged, noPool, PostConfirmation(handle: "genuine", sub: "sub-genuine")]);

        using var host = await StartIngressAsync(db.Url, queue, dlq, userPoolId: "us-east-1_Example");
        await EventuallyAsync(async () => await _sqs.CountAsync(queue) == 0 && await _sqs.CountAsync(dlq) == 2);

        var reasons = (await _sqs.DrainAsync(dlq)).Select(letter => letter.MessageAttributes[CognitoUsersIngressOptions.RejectReasonAttribute].StringValue).Order(StringComparer.Ordinal);
        Assert.Equal(["userPoolId 'us-east-1_Forged' is not this Api's user pool (COGNITO_USER_POOL_ID)", "userPoolId is missing or not a string"], reasons);
        Assert.Equal("sub-genuine", Assert.Single(await StoredJob.SignUpsAsync(db)).CognitoUserId);
    }

    [Fact]
    public async Task When_the_dead_letter_queue_cannot_be_reached_the_bad_body_stays_and_the_poller_goes_on()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var queue = await _sqs.CreateAsync("ingress-dlq-gone", visibilityTimeoutSeconds: 30);
        var missingDlq = $"{moto.EndpointUrl}/123456789012/no-such-queue-{Guid.NewGuid():N}";
        await _sqs.SendAsync(queue, ["not json", PostConfirmation(handle: "after", sub: "sub-after")]);

        using var host = await StartIngressAsync(db.Url, queue, missingDlq);
        await EventuallyAsync(async () => await StoredJob.CountAsync(db) >= 1 && await _sqs.CountAsync(queue) == 1);
        await host.StopAsync(TestContext.Current.CancellationToken);

        Assert.Equal("sub-after", Assert.Single(await StoredJob.SignUpsAsync(db)).CognitoUserId);
        Assert.Equal(1, await _sqs.CountAsync(queue)); // the bad body, not deleted: the redrive policy will take it
        Assert.Contains(_logs.Lines, line => line.Level == LogLevel.Warning && line.Message.Contains("sending it to the dead-letter queue failed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_a_dead_letter_queue_a_bad_body_is_left_for_the_redrive_policy_and_logged_once_without_its_body()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var queue = await _sqs.CreateAsync("ingress-nodlq", visibilityTimeoutSeconds: 1);
        await _sqs.SendAsync(queue, ["not json, but secret.person@example.com"]);

        using var host = await StartIngressAsync(db.Url, queue);
        await EventuallyAsync(() => Task.FromResult(_logs.Lines.Count(IsRedriveNotice) >= 3)); // three deliveries seen
        await host.StopAsync(TestContext.Current.CancellationToken);

        Assert.Equal(1, await _sqs.CountAsync(queue));
        Assert.Single(_logs.Lines, line => IsRedriveNotice(line) && line.Level == LogLevel.Warning);
        Assert.DoesNotContain(_logs.Lines, line => line.Message.Contains("secret.person", StringComparison.Ordinal));
        Assert.Equal(0L, await StoredJob.CountAsync(db));

        static bool IsRedriveNotice(LogCollector.LogLine line) =>
            line.Message.Contains("left for the queue's redrive policy", StringComparison.Ordinal) && line.Message.StartsWith("Message ", StringComparison.Ordinal);
    }

    [Fact]
    public async Task When_Postgres_is_unreachable_longer_than_the_redrive_policy_allows_nothing_is_received_again_until_it_is_back()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        // The queue as bin/sqs-create-queues makes it, but a message goes to the dead-letter queue at its 3rd receive
        // and comes back after 1 s: the outage below outlasts that redrive policy three times over.
        var dlq = await _sqs.CreateAsync("ingress-pgdown-dlq");
        var queue = await _sqs.CreateAsync("ingress-pgdown", visibilityTimeoutSeconds: 1, redriveTo: dlq, maxReceiveCount: 2);
        await using var postgres = new TcpForwarder(server.Host, server.Port); // refuses connections until started
        var unreachableUrl = db.Url.Replace($":{server.Port}/", $":{postgres.Port}/", StringComparison.Ordinal);
        await _sqs.SendAsync(queue, Enumerable.Range(1, 15).Select(i => PostConfirmation(handle: $"down{i}", sub: $"sub-down-{i}")));
        var attempts = new CountingJobQueue();

        using var host = await StartIngressAsync(unreachableUrl, queue, configure: services => attempts.Decorate(services));
        await EventuallyAsync(() => Task.FromResult(attempts.Count >= 1 && _logs.Lines.Count(line => line.Level == LogLevel.Warning && line.Message.Contains("pausing", StringComparison.Ordinal)) >= 3));
        await Task.Delay(TimeSpan.FromSeconds(6));
        var triesWhileDown = attempts.Count;
        var leftWhileDown = await _sqs.CountAsync(queue);

        postgres.Start();
        await EventuallyAsync(async () => await _sqs.CountAsync(queue) == 0 && (await StoredJob.SignUpsAsync(db)).Count >= 15);

        Assert.Equal(1, triesWhileDown); // the receive that found Postgres down; none after it while it stayed down
        Assert.Equal(15, leftWhileDown); // nothing deleted
        var signUps = await StoredJob.SignUpsAsync(db);
        Assert.Equal(15, signUps.Count);
        Assert.Equal(15, signUps.Select(signUp => signUp.CognitoUserId).Distinct().Count());
        Assert.Equal(0, await _sqs.CountAsync(dlq)); // no sign-up dead-lettered by the outage
        Assert.Contains(_logs.Lines, line => line.Message.Contains("reachable again", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_thousand_messages_sent_in_batches_become_a_job_per_receive_carrying_each_sign_up_once()
    {
        // In memory: moto_server would take minutes for this volume on this machine (see InMemorySqs).
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        using var sqs = new InMemorySqs(visibilityTimeout: TimeSpan.FromSeconds(30));
        foreach (var batch in Enumerable.Range(1, 1000).Chunk(10))
        {
            sqs.Send(batch.Select(i => PostConfirmation(handle: $"bulk{i}", sub: $"sub-bulk-{i}")));
        }

        var clock = Stopwatch.StartNew();
        using var host = await StartIngressAsync(db.Url, InMemorySqs.QueueUrl, pollers: 4, sqs: sqs);
        await EventuallyAsync(
            async () => sqs.Count == 0 && (await StoredJob.SignUpsAsync(db)).Count >= 1000, TimeSpan.FromSeconds(60),
            async () => $"after {clock.ElapsedMilliseconds} ms: {(await StoredJob.SignUpsAsync(db)).Count} sign-ups enqueued, {sqs.Count} in the queue");
        await host.StopAsync(TestContext.Current.CancellationToken);

        var subs = (await StoredJob.SignUpsAsync(db)).Select(signUp => signUp.CognitoUserId).ToList();
        Assert.Equal(1000, subs.Count);
        Assert.InRange(await StoredJob.CountAsync(db), 100, 999); // receives of up to 10: fewer jobs than messages
        Assert.Equal(Enumerable.Range(1, 1000).Select(i => $"sub-bulk-{i}").Order(), subs.Order());
        TestContext.Current.SendDiagnosticMessage($"1,000 messages ingested in {clock.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task Shutdown_with_messages_in_flight_loses_none()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        // Long enough that a batch slowed by a busy machine is not redelivered while it is being stored.
        var queue = await _sqs.CreateAsync("ingress-shutdown", visibilityTimeoutSeconds: 6);
        var expected = Enumerable.Range(1, 60).Select(i => $"sub-stop-{i}").ToList();
        await _sqs.SendAsync(queue, expected.Select((sub, i) => PostConfirmation(handle: $"stop{i}", sub: sub)));

        var first = await StartIngressAsync(db.Url, queue, pollers: 3);
        await EventuallyAsync(async () => await StoredJob.CountAsync(db) >= 1);
        await first.StopAsync(TestContext.Current.CancellationToken);
        first.Dispose();
        var afterShutdown = await StoredJob.SignUpsAsync(db);
        var inQueue = await _sqs.CountAsync(queue);

        // Stopped with at least one job stored, and every message is a job or still in the queue. SQS delivers at least once: on a busy
        // machine a message can outlive its visibility timeout and be enqueued twice, which the upsert makes harmless.
        Assert.NotEmpty(afterShutdown);
        Assert.True(afterShutdown.Select(signUp => signUp.CognitoUserId).Distinct().Count() + inQueue >= 60);

        using var second = await StartIngressAsync(db.Url, queue, pollers: 3);
        await EventuallyAsync(async () => await _sqs.CountAsync(queue) == 0 && (await StoredJob.SignUpsAsync(db)).Count >= 60);
        var subs = (await StoredJob.SignUpsAsync(db)).Select(signUp => signUp.CognitoUserId).Distinct().ToList();
        Assert.Equal(expected.Order(), subs.Order());
    }

    [Fact]
    public async Task Without_a_queue_url_the_ingress_is_off_and_says_so()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.AddProvider(_logs);
        builder.Services.AddCognitoUsersIngress(new ConfigurationBuilder().Build());

        using var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        await host.StopAsync(TestContext.Current.CancellationToken);

        Assert.Contains(_logs.Lines, line => line.Level == LogLevel.Information && line.Message == "Cognito users ingress disabled: COGNITO_USERS_QUEUE_URL is not set");
        Assert.DoesNotContain(_logs.Lines, line => line.Message.Contains("enabled", StringComparison.Ordinal));
    }

    private async Task<IHost> StartIngressAsync(
        string connectionUrl, string queueUrl, string? deadLetterQueueUrl = null, int pollers = 1,
        Action<IServiceCollection>? configure = null, Amazon.SQS.IAmazonSQS? sqs = null, string? userPoolId = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>(moto.Environment)
        {
            [DataServiceCollectionExtensions.ConnectionUrlKey] = connectionUrl,
            [CognitoUsersIngressOptions.QueueUrlKey] = queueUrl,
            [CognitoUsersIngressOptions.DeadLetterQueueUrlKey] = deadLetterQueueUrl,
            [CognitoUsersIngressOptions.PollersKey] = pollers.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [CognitoUsersIngressOptions.WaitSecondsKey] = "1",
            [CognitoUsersIngressOptions.UserPoolIdKey] = userPoolId,
        });
        builder.Logging.SetMinimumLevel(LogLevel.Debug).AddFilter("Npgsql", LogLevel.Warning).AddProvider(_logs);
        builder.Services.AddSingleton(sqs ?? _sqs.Client); // moto's credentials; the Api's own client takes the SDK's default chain
        // The Api's registrations (Program.cs).
        builder.Services.AddCruddurData(builder.Configuration).AddCruddurJobStorage(builder.Configuration);
        builder.Services.AddCognitoUsersIngress(builder.Configuration, options =>
        {
            options.FirstBackoff = TimeSpan.FromMilliseconds(200);
            options.MaxBackoff = TimeSpan.FromSeconds(1);
        });
        configure?.Invoke(builder.Services);
        var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        return host;
    }

    private static async Task EventuallyAsync(Func<Task<bool>> condition, TimeSpan? timeout = null, Func<Task<string>>? state = null) =>
        await Eventually.ReachesAsync(
            async () => (Held: await condition(), State: state is null ? "" : await state()), observed => observed.Held, "the condition (and the state then)", timeout);

    public void Dispose() => _sqs.Dispose();

    /// <summary>Counts enqueue attempts (successful or not) on the real Hangfire queue.</summary>
    private sealed class CountingJobQueue
    {
        private int _count;

        public int Count => _count;

        public void Decorate(IServiceCollection services) =>
            services.AddSingleton<IJobQueue>(provider => new Counting(this, new HangfireJobQueue(provider.GetRequiredService<BatchingPostgreSqlStorage>())));

        private sealed class Counting(CountingJobQueue owner, IJobQueue inner) : IJobQueue
        {
            public Task<string> EnqueueAsync<T>(T job, CancellationToken cancellationToken = default) where T : notnull
            {
                Interlocked.Increment(ref owner._count);
                return inner.EnqueueAsync(job, cancellationToken);
            }

            public Task<string> EnqueueBatchAsync<T>(IReadOnlyCollection<T> jobs, CancellationToken cancellationToken = default) where T : notnull
            {
                Interlocked.Increment(ref owner._count);
                return inner.EnqueueBatchAsync(jobs, cancellationToken);
            }

            public string EnqueueBatch<T>(IReadOnlyCollection<T> jobs) where T : notnull
            {
                Interlocked.Increment(ref owner._count);
                return inner.EnqueueBatch(jobs);
            }

            public string OpenBatch<T>(IReadOnlyCollection<T> jobs, string? closing) where T : notnull
            {
                Interlocked.Increment(ref owner._count);
                return inner.OpenBatch(jobs, closing);
            }

            public bool AppendToBatch<T>(string jobId, IReadOnlyCollection<T> jobs) where T : notnull => inner.AppendToBatch(jobId, jobs);

            public void CloseBatch<T>(string jobId) where T : notnull => inner.CloseBatch<T>(jobId);
        }
    }
}

using System.Globalization;
using System.Text.Json;
using Amazon.Runtime;
using Amazon.SQS;
using Amazon.SQS.Model;
using Cruddur.Shared.Aws;
using Cruddur.Shared.Jobs;
using Cruddur.Shared.Users;
using Cruddur.Tests.Fixtures;
using Microsoft.Extensions.Configuration;

namespace Cruddur.Tests.Users;

/// <summary>Queues on the shared moto_server, each named uniquely for one test, and what a user would check on them.</summary>
public sealed class SqsQueues(MotoServer moto) : IDisposable
{
    public IAmazonSQS Client { get; } = new AmazonSQSClient(
        new BasicAWSCredentials("testing", "testing-secret"),
        AwsClientConfiguration.Apply(new AmazonSQSConfig(), new ConfigurationBuilder().AddInMemoryCollection(moto.Environment).Build()));

    /// <summary>A queue; with <paramref name="redriveTo"/>, a message received more than <paramref name="maxReceiveCount"/> times moves there.</summary>
    public async Task<string> CreateAsync(string purpose, int visibilityTimeoutSeconds = 30, string? redriveTo = null, int maxReceiveCount = 5)
    {
        var attributes = new Dictionary<string, string> { ["VisibilityTimeout"] = visibilityTimeoutSeconds.ToString(CultureInfo.InvariantCulture) };
        if (redriveTo is not null)
        {
            var arn = (await Client.GetQueueAttributesAsync(redriveTo, ["QueueArn"])).QueueARN;
            attributes["RedrivePolicy"] = JsonSerializer.Serialize(new { deadLetterTargetArn = arn, maxReceiveCount = maxReceiveCount.ToString(CultureInfo.InvariantCulture) });
        }
        var response = await Client.CreateQueueAsync(new CreateQueueRequest { QueueName = $"{purpose}-{Guid.NewGuid():N}", Attributes = attributes });
        return response.QueueUrl;
    }

    /// <summary>Sends every body (any refused fails the test); returns how many SQS acknowledged.</summary>
    public async Task<int> SendAsync(string queueUrl, IEnumerable<string> bodies)
    {
        var batches = bodies.Chunk(10).Select(chunk => new SendMessageBatchRequest(
            queueUrl, [.. chunk.Select((body, i) => new SendMessageBatchRequestEntry(i.ToString(CultureInfo.InvariantCulture), body))]));
        var acknowledged = 0;
        await Parallel.ForEachAsync(batches, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (batch, token) =>
        {
            var response = await Client.SendMessageBatchAsync(batch, token);
            Assert.Empty(response.Failed ?? []);
            Interlocked.Add(ref acknowledged, response.Successful?.Count ?? 0);
        });
        return acknowledged;
    }

    /// <summary>Messages in the queue, visible or in flight.</summary>
    public async Task<int> CountAsync(string queueUrl)
    {
        var attributes = await Client.GetQueueAttributesAsync(new GetQueueAttributesRequest
        {
            QueueUrl = queueUrl,
            AttributeNames = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        });
        return attributes.ApproximateNumberOfMessages + attributes.ApproximateNumberOfMessagesNotVisible;
    }

    /// <summary>Receives (and deletes) every visible message, with its message attributes.</summary>
    public async Task<List<Message>> DrainAsync(string queueUrl)
    {
        var all = new List<Message>();
        while (true)
        {
            var messages = (await Client.ReceiveMessageAsync(new ReceiveMessageRequest
            {
                QueueUrl = queueUrl,
                MaxNumberOfMessages = 10,
                WaitTimeSeconds = 0,
                MessageAttributeNames = ["All"],
            })).Messages ?? [];
            if (messages.Count == 0)
            {
                return all;
            }
            all.AddRange(messages);
            await Client.DeleteMessageBatchAsync(queueUrl, [.. messages.Select((m, i) => new DeleteMessageBatchRequestEntry(i.ToString(CultureInfo.InvariantCulture), m.ReceiptHandle))]);
        }
    }

    public void Dispose() => Client.Dispose();
}

/// <summary>
/// A job as Hangfire stored it: the function it names, its queue, and the sign-ups it carries (the ingress
/// enqueues a receive's sign-ups as one job; a split-out job carries one; any other function's job, none).
/// </summary>
public sealed record StoredJob(string Function, string Queue, IReadOnlyList<IngestCognitoUserJob> SignUps)
{
    /// <summary>Every job in the database's Hangfire storage, read from <c>hangfire.job</c> as an operator would.</summary>
    public static async Task<List<StoredJob>> ReadAllAsync(TestDatabase db)
    {
        var jobs = new List<StoredJob>();
        await using var command = db.DataSource.CreateCommand(
            "SELECT j.invocationdata, j.arguments, q.queue FROM hangfire.job j LEFT JOIN hangfire.jobqueue q ON q.jobid = j.id ORDER BY j.id");
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var invocation = reader.GetString(0);
            Assert.Contains(nameof(IFunctionDispatcher), invocation, StringComparison.Ordinal);
            var arguments = JsonSerializer.Deserialize<string?[]>(reader.GetString(1))!;
            var function = JsonSerializer.Deserialize<string>(arguments[0]!)!;
            var payload = JsonSerializer.Deserialize<string>(arguments[1]!)!;
            IReadOnlyList<IngestCognitoUserJob> signUps =
                function != IngestCognitoUserJob.Function ? [] // a timer's tick, say, when a whole Worker runs
                : payload.StartsWith('[') ? JsonSerializer.Deserialize<List<IngestCognitoUserJob>>(payload, JobPayload.Options)!
                : [JsonSerializer.Deserialize<IngestCognitoUserJob>(payload, JobPayload.Options)!];
            jobs.Add(new StoredJob(function, reader.IsDBNull(2) ? "" : reader.GetString(2), signUps));
        }
        return jobs;
    }

    /// <summary>The sign-ups of every stored job, in the order they were enqueued.</summary>
    public static async Task<List<IngestCognitoUserJob>> SignUpsAsync(TestDatabase db) =>
        [.. (await ReadAllAsync(db)).SelectMany(job => job.SignUps)];

    public static async Task<long> CountAsync(TestDatabase db) => await db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job");
}

using Amazon.SQS;
using Amazon.SQS.Model;
using Cruddur.Shared.Data;
using Cruddur.Shared.Jobs;
using Cruddur.Shared.Observability;
using Cruddur.Shared.Resilience;
using Cruddur.Shared.Users;
using Npgsql;
using Polly;
using Polly.Registry;
using Polly.Retry;

namespace Cruddur.Api.Users;

/// <summary>
/// Reads Cognito post-confirmation events from SQS and enqueues the sign-ups of each receive as one
/// <c>ingest-cognito-user</c> job: one commit for up to ten messages. A message is deleted only after its
/// job is committed to Postgres, so a crash, a shutdown or a database outage loses nothing: the message comes
/// back after its visibility timeout. After a failed commit the poller receives nothing until Postgres answers
/// again: each receive counts towards the queue's redrive policy (5 receives with <c>bin/sqs-create-queues</c>), which
/// would otherwise dead-letter every sign-up of an outage longer than five visibility timeouts. A body that cannot
/// be a user goes to the dead-letter queue with its reason. Bodies hold emails: they are never logged.
/// </summary>
public sealed class CognitoUsersIngress(
    IAmazonSQS sqs,
    IJobQueue jobs,
    NpgsqlDataSource database,
    CognitoUsersIngressOptions options,
    ResiliencePipelineProvider<string> pipelines,
    ILogger<CognitoUsersIngress> logger) : BackgroundService
{
    private const string ReceiveCountAttribute = "ApproximateReceiveCount";

    private static readonly ResiliencePropertyKey<int> PollerKey = new("cruddur.sqs-poller");
    private static readonly ResiliencePropertyKey<int> FailuresKey = new("cruddur.sqs-failures");
    private static readonly ResiliencePropertyKey<bool> StorageDownKey = new("cruddur.sqs-storage-down");

    private readonly string _queueUrl = options.QueueUrl
        ?? throw new InvalidOperationException($"{CognitoUsersIngressOptions.QueueUrlKey} is not set.");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        logger.LogInformation(
            "Cognito users ingress enabled: {Pollers} poller(s) on {QueueUrl}, {DeadLetters}",
            options.Pollers, _queueUrl,
            options.DeadLetterQueueUrl is null
                ? $"no {CognitoUsersIngressOptions.DeadLetterQueueUrlKey}: bodies that cannot be a user are left for the queue's redrive policy"
                : $"dead letters to {options.DeadLetterQueueUrl}");
        await Task.WhenAll(Enumerable.Range(1, options.Pollers).Select(poller => PollAsync(poller, stoppingToken)));
        logger.LogInformation("Cognito users ingress stopped");
    }

    private async Task PollAsync(int poller, CancellationToken stoppingToken)
    {
        var request = new ReceiveMessageRequest
        {
            QueueUrl = _queueUrl,
            MaxNumberOfMessages = options.MaxMessages,
            WaitTimeSeconds = options.WaitTimeSeconds,
            MessageSystemAttributeNames = [ReceiveCountAttribute],
        };
        var pause = pipelines.GetPipeline(Retries.SqsPoll);
        while (!stoppingToken.IsCancellationRequested)
        {
            var context = ResilienceContextPool.Shared.Get(stoppingToken);
            context.Properties.Set(PollerKey, poller);
            try
            {
                await pause.ExecuteAsync(static async (context, state) => await state.Ingress.ReceiveAndStoreAsync(state.Poller, state.Request, context),
                    context, (Ingress: this, Poller: poller, Request: request));
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break; // a receive cut short loses nothing: whatever it took comes back after the visibility timeout
            }
            finally
            {
                ResilienceContextPool.Shared.Return(context);
            }
        }
    }

    /// <summary>
    /// Receives until a receive brings messages, then stores them: true once they are stored, false when Postgres failed
    /// (and a failed receive throws). Either failure pauses the poller in the <see cref="Retries.SqsPoll"/> pipeline.
    /// </summary>
    private async Task<bool> ReceiveAndStoreAsync(int poller, ReceiveMessageRequest request, ResilienceContext context)
    {
        if (context.Properties.GetValue(StorageDownKey, false) && !await DatabaseAnswersAsync(context.CancellationToken))
        {
            return false; // nothing received: the messages of the failed commit keep their receive count
        }
        List<Message> messages = [];
        while (messages.Count == 0)
        {
            messages = (await sqs.ReceiveMessageAsync(request, context.CancellationToken)).Messages ?? [];
            CruddurTelemetry.SqsReceived.Add(messages.Count);
        }
        // The batch in hand is finished even when shutdown begins: stopping only stops receiving.
        var stored = await HandleBatchAsync(poller, messages);
        context.Properties.Set(StorageDownKey, !stored);
        if (stored && context.Properties.TryGetValue(FailuresKey, out var failures) && failures > 0)
        {
            logger.LogInformation("Poller {Poller}: Postgres is reachable again; enqueueing resumed", poller);
        }
        return stored;
    }

    private async Task<bool> DatabaseAnswersAsync(CancellationToken cancellationToken)
    {
        try
        {
            await HealthProbe.ScalarAsync(database, "SELECT 1", null, cancellationToken);
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return false; // whatever stops the probe (a refused connection, a timeout, a token the server refuses) would stop the commit
        }
    }

    /// <summary>The <see cref="Retries.SqsPoll"/> pipeline's retry condition: a failed receive or store, unless the Api is stopping.</summary>
    internal static ValueTask<bool> ShouldPause(RetryPredicateArguments<object> failure) => ValueTask.FromResult(failure.Outcome switch
    {
        { Exception: OperationCanceledException } when failure.Context.CancellationToken.IsCancellationRequested => false,
        { Exception: not null } => true,
        { Result: false } => true,
        _ => false,
    });

    /// <summary>Says why and how long the poller pauses; the pipeline's retry counts the failures in a row.</summary>
    internal static ValueTask LogPause(ILogger logger, OnRetryArguments<object> pause)
    {
        var poller = pause.Context.Properties.GetValue(PollerKey, 0);
        var failures = pause.AttemptNumber + 1;
        pause.Context.Properties.Set(FailuresKey, failures);
        if (pause.Outcome.Exception is { } e)
        {
            logger.LogWarning(e, "Poller {Poller}: receiving from SQS failed; trying again in {Delay:0} ms", poller, pause.RetryDelay.TotalMilliseconds);
        }
        else
        {
            logger.LogWarning("Poller {Poller}: pausing {Delay:0} ms before receiving again (failure {Failures} in a row)", poller, pause.RetryDelay.TotalMilliseconds, failures);
        }
        return default;
    }

    /// <summary>
    /// Enqueues the batch's sign-ups as one job (one commit for up to ten messages), dead-letters each body that
    /// cannot be a user, then deletes the messages that are safe to delete. False when Postgres failed.
    /// </summary>
    private async Task<bool> HandleBatchAsync(int poller, List<Message> messages)
    {
        var done = new List<Message>(messages.Count);
        var signUps = new List<(Message Message, IngestCognitoUserJob Job)>(messages.Count);
        var rejected = new List<(Message Message, string Reason)>();
        foreach (var message in messages)
        {
            try
            {
                if (CognitoPostConfirmation.TryParse(message.Body, options.UserPoolId, out var job, out var rejection))
                {
                    signUps.Add((message, job));
                }
                else
                {
                    rejected.Add((message, rejection));
                }
            }
            catch (Exception e)
            {
                // One message never stops the poller; it is not deleted, so it comes back (and is redriven).
                logger.LogError(e, "Poller {Poller}: message {MessageId} could not be handled; it stays in the queue", poller, message.MessageId);
            }
        }
        done.AddRange(await DeadLetterAsync(rejected));

        var storageFailed = false;
        if (signUps.Count > 0)
        {
            try
            {
                // Not cancellable: a job being stored at shutdown is finished, then its messages deleted.
                await jobs.EnqueueBatchAsync(signUps.ConvertAll(s => s.Job), CancellationToken.None);
                done.AddRange(signUps.Select(s => s.Message));
            }
            catch (Exception e)
            {
                storageFailed = true;
                logger.LogWarning(e, "Poller {Poller}: enqueueing {Count} sign-up(s) failed; their messages stay in the queue", poller, signUps.Count);
            }
        }
        await DeleteAsync(poller, done);
        return !storageFailed;
    }

    /// <summary>
    /// Moves the bodies that cannot be a user to the dead-letter queue, a receive's worth in one call (one at a
    /// time, a slow queue could not keep up: issue 17); returns those that are safe to delete.
    /// </summary>
    private async Task<List<Message>> DeadLetterAsync(List<(Message Message, string Reason)> rejected)
    {
        if (rejected.Count == 0)
        {
            return [];
        }
        if (options.DeadLetterQueueUrl is null)
        {
            foreach (var (message, reason) in rejected)
            {
                // Logged at the first delivery only; the redrive policy moves it after maxReceiveCount deliveries.
                var firstDelivery = message.Attributes?.GetValueOrDefault(ReceiveCountAttribute) is null or "1";
                logger.Log(
                    firstDelivery ? LogLevel.Warning : LogLevel.Debug,
                    "Message {MessageId} cannot be a user ({Reason}); no {DeadLetterQueueKey} is set, so it is left for the queue's redrive policy",
                    message.MessageId, reason, CognitoUsersIngressOptions.DeadLetterQueueUrlKey);
            }
            return [];
        }
        var entries = rejected.Select((r, index) => new SendMessageBatchRequestEntry(index.ToString(System.Globalization.CultureInfo.InvariantCulture), r.Message.Body)
        {
            MessageAttributes = new Dictionary<string, MessageAttributeValue>
            {
                [CognitoUsersIngressOptions.RejectReasonAttribute] = new() { DataType = "String", StringValue = r.Reason },
                ["cruddur-source-message-id"] = new() { DataType = "String", StringValue = r.Message.MessageId },
            },
        }).ToList();
        try
        {
            var response = await sqs.SendMessageBatchAsync(new SendMessageBatchRequest(options.DeadLetterQueueUrl, entries), CancellationToken.None);
            var moved = new List<Message>(rejected.Count);
            foreach (var sent in response.Successful ?? [])
            {
                var (message, reason) = rejected[int.Parse(sent.Id, System.Globalization.CultureInfo.InvariantCulture)];
                logger.LogWarning("Message {MessageId} cannot be a user ({Reason}); moved to the dead-letter queue", message.MessageId, reason);
                moved.Add(message);
            }
            foreach (var failed in response.Failed ?? [])
            {
                var (message, reason) = rejected[int.Parse(failed.Id, System.Globalization.CultureInfo.InvariantCulture)];
                logger.LogWarning("Message {MessageId} cannot be a user ({Reason}) and sending it to the dead-letter queue failed ({Code}); it stays in the queue", message.MessageId, reason, failed.Code);
            }
            CruddurTelemetry.SqsDeadLettered.Add(moved.Count);
            return moved;
        }
        catch (Exception e)
        {
            foreach (var (message, reason) in rejected)
            {
                logger.LogWarning(e, "Message {MessageId} cannot be a user ({Reason}) and sending it to the dead-letter queue failed; it stays in the queue", message.MessageId, reason);
            }
            return [];
        }
    }

    private async Task DeleteAsync(int poller, List<Message> messages)
    {
        if (messages.Count == 0)
        {
            return;
        }
        var entries = messages.Select((message, index) => new DeleteMessageBatchRequestEntry(index.ToString(System.Globalization.CultureInfo.InvariantCulture), message.ReceiptHandle)).ToList();
        try
        {
            var response = await sqs.DeleteMessageBatchAsync(new DeleteMessageBatchRequest(_queueUrl, entries), CancellationToken.None);
            foreach (var failed in response.Failed ?? [])
            {
                logger.LogWarning("Poller {Poller}: deleting a stored message failed ({Code}: {Reason}); it will be delivered again and upserted again, harmlessly", poller, failed.Code, failed.Message);
            }
        }
        catch (Exception e)
        {
            // The jobs are stored; redelivered messages make duplicate jobs, and the upsert makes them one user.
            logger.LogWarning(e, "Poller {Poller}: deleting {Count} stored message(s) failed; they will be delivered again and upserted again, harmlessly", poller, messages.Count);
        }
    }
}

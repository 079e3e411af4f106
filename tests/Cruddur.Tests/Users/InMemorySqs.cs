using System.Globalization;
using Amazon.Runtime;
using Amazon.SQS;
using Amazon.SQS.Model;

namespace Cruddur.Tests.Users;

/// <summary>
/// One standard queue in memory with SQS's receive, visibility-timeout and batch-delete semantics, for volume
/// tests: moto_server answers a receive in 150–400 ms on this machine, too slow for thousands of messages.
/// Everything the ingress does not call still goes to the (unreachable) base client and fails.
/// </summary>
public sealed class InMemorySqs(TimeSpan visibilityTimeout) : AmazonSQSClient(
    new BasicAWSCredentials("testing", "testing-secret"), new AmazonSQSConfig { ServiceURL = "http://127.0.0.1:9", MaxErrorRetry = 0 })
{
    public const string QueueUrl = "http://in-memory/000000000000/users";

    private readonly Lock _lock = new();
    private readonly List<Entry> _messages = [];
    private int _nextId;

    public void Send(IEnumerable<string> bodies)
    {
        lock (_lock)
        {
            foreach (var body in bodies)
            {
                _messages.Add(new Entry((++_nextId).ToString(CultureInfo.InvariantCulture), body));
            }
        }
    }

    /// <summary>Messages not yet deleted, visible or in flight.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _messages.Count;
            }
        }
    }

    public int Receives { get; private set; }

    public override async Task<ReceiveMessageResponse> ReceiveMessageAsync(ReceiveMessageRequest request, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow.AddSeconds(request.WaitTimeSeconds ?? 0);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            lock (_lock)
            {
                Receives++;
                var now = DateTime.UtcNow;
                var taken = _messages.Where(m => m.VisibleAt <= now).Take(request.MaxNumberOfMessages ?? 1).ToList();
                foreach (var message in taken)
                {
                    message.VisibleAt = now + visibilityTimeout;
                    message.ReceiptHandle = Guid.NewGuid().ToString("N");
                    message.ReceiveCount++;
                }
                if (taken.Count > 0 || now >= deadline)
                {
                    return new ReceiveMessageResponse
                    {
                        Messages = [.. taken.Select(m => new Message
                        {
                            MessageId = m.Id,
                            Body = m.Body,
                            ReceiptHandle = m.ReceiptHandle,
                            Attributes = new Dictionary<string, string> { ["ApproximateReceiveCount"] = m.ReceiveCount.ToString(CultureInfo.InvariantCulture) },
                        })],
                    };
                }
            }
            await Task.Delay(20, cancellationToken);
        }
    }

    public override Task<DeleteMessageBatchResponse> DeleteMessageBatchAsync(DeleteMessageBatchRequest request, CancellationToken cancellationToken = default)
    {
        var response = new DeleteMessageBatchResponse { Successful = [], Failed = [] };
        lock (_lock)
        {
            foreach (var entry in request.Entries)
            {
                if (_messages.RemoveAll(m => m.ReceiptHandle == entry.ReceiptHandle) > 0)
                {
                    response.Successful.Add(new DeleteMessageBatchResultEntry { Id = entry.Id });
                }
                else
                {
                    response.Failed.Add(new BatchResultErrorEntry { Id = entry.Id, Code = "ReceiptHandleIsInvalid", Message = "stale receipt handle", SenderFault = true });
                }
            }
        }
        return Task.FromResult(response);
    }

    private sealed class Entry(string id, string body)
    {
        public string Id { get; } = id;

        public string Body { get; } = body;

        public DateTime VisibleAt { get; set; } = DateTime.MinValue;

        public string? ReceiptHandle { get; set; }

        public int ReceiveCount { get; set; }
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Amazon.Runtime;
using Amazon.SQS;
using Amazon.SQS.Model;

namespace Cruddur.Bench.Baseline;

/// <summary>
/// The SQS side of bin/bench. <c>sqs-roundtrip</c> measures the emulator alone: senders put Cognito sign-up
/// events on a queue while pollers receive and delete them, with the Api's settings (batches of 10, 20 s long
/// poll, one poller unless told). <c>sqs-send</c> sends the same events, the same way, to the Api's queue;
/// bin/bench times them until they are users. The ratio of the two is the ingest's share of the emulator's rate.
/// moto_server's receive slows with the queue's depth (0.16 s at 100 messages, 1.6 s at 1,000, measured), so
/// bin/bench sends in rounds of a few hundred, each drained before the next, in both measurements.
/// </summary>
internal static class SqsBaseline
{
    public const string Usage = "sqs-roundtrip|sqs-send <endpoint> <queue-url> <messages> <senders> [pollers] [handle-prefix]";

    public static async Task<int> RoundTripAsync(string[] args)
    {
        if (!TryParse(args, out var settings))
        {
            return 2;
        }
        using var sqs = Client(settings.Endpoint);
        var clock = Stopwatch.StartNew();
        var deleted = 0;
        var sending = SendAsync(sqs, settings);
        await Task.WhenAll(Enumerable.Range(0, settings.Pollers).Select(async _ =>
        {
            while (Volatile.Read(ref deleted) < settings.Messages && clock.Elapsed < TimeSpan.FromMinutes(10))
            {
                var received = await sqs.ReceiveMessageAsync(new ReceiveMessageRequest
                {
                    QueueUrl = settings.QueueUrl, MaxNumberOfMessages = 10, WaitTimeSeconds = 20,
                });
                if (received.Messages is not { Count: > 0 } messages)
                {
                    continue;
                }
                await sqs.DeleteMessageBatchAsync(settings.QueueUrl,
                    [.. messages.Select((m, i) => new DeleteMessageBatchRequestEntry(i.ToString(CultureInfo.InvariantCulture), m.ReceiptHandle))]);
                Interlocked.Add(ref deleted, messages.Count);
            }
        }));
        await sending;
        Console.WriteLine(FormattableString.Invariant($"sqs_roundtrip_seconds={clock.Elapsed.TotalSeconds:0.000}"));
        Console.WriteLine(FormattableString.Invariant($"sqs_deleted={deleted}"));
        return deleted >= settings.Messages ? 0 : 1;
    }

    public static async Task<int> SendOnlyAsync(string[] args)
    {
        if (!TryParse(args, out var settings))
        {
            return 2;
        }
        using var sqs = Client(settings.Endpoint);
        // bin/bench times the ingest from this instant (not from this process's start) until the users exist.
        Console.WriteLine(FormattableString.Invariant($"sqs_send_started_unix_ms={DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}"));
        var clock = Stopwatch.StartNew();
        await SendAsync(sqs, settings);
        Console.WriteLine(FormattableString.Invariant($"sqs_send_per_s={settings.Messages / clock.Elapsed.TotalSeconds:0}"));
        return 0;
    }

    private sealed record Settings(string Endpoint, string QueueUrl, int Messages, int Senders, int Pollers, string Prefix);

    private static bool TryParse(string[] args, out Settings settings)
    {
        settings = null!;
        if (args.Length is < 4 or > 6)
        {
            Console.Error.WriteLine($"usage: Cruddur.Bench.Baseline {Usage}");
            return false;
        }
        settings = new Settings(
            args[0], args[1], int.Parse(args[2], CultureInfo.InvariantCulture), int.Parse(args[3], CultureInfo.InvariantCulture),
            args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : 1, args.Length > 5 ? args[5] : "sqsbench");
        return true;
    }

    private static AmazonSQSClient Client(string endpoint) =>
        new(new BasicAWSCredentials("testing", "testing"), new AmazonSQSConfig { ServiceURL = endpoint, AuthenticationRegion = "us-east-1" });

    /// <summary>Sends the events in batches of 10 (SQS's maximum) from <c>Senders</c> loops at once.</summary>
    private static Task SendAsync(AmazonSQSClient sqs, Settings settings)
    {
        var next = -1;
        return Task.WhenAll(Enumerable.Range(0, settings.Senders).Select(async _ =>
        {
            int first;
            while ((first = Interlocked.Add(ref next, 10) - 9) < settings.Messages)
            {
                var batch = Enumerable.Range(first, Math.Min(10, settings.Messages - first))
                    .Select(n => new SendMessageBatchRequestEntry(n.ToString(CultureInfo.InvariantCulture), SignUp(settings.Prefix, n)))
                    .ToList();
                var sent = await sqs.SendMessageBatchAsync(settings.QueueUrl, batch);
                if (sent.Failed is { Count: > 0 } failed)
                {
                    throw new InvalidOperationException($"SQS refused {failed.Count} messages: {failed[0].Message}");
                }
            }
        }));
    }

    /// <summary>A Cognito PostConfirmation event as the Cognito trigger sends it (bin/sqs-send-cognito-event's shape).</summary>
    private static string SignUp(string prefix, int n) => JsonSerializer.Serialize(new
    {
        version = "1",
        triggerSource = "PostConfirmation_ConfirmSignUp",
        region = "us-east-1",
        userPoolId = "us-east-1_Cruddur",
        userName = $"{prefix}{n}",
        request = new
        {
            userAttributes = new Dictionary<string, string>
            {
                ["sub"] = Guid.NewGuid().ToString(),
                ["email_verified"] = "true",
                ["cognito:user_status"] = "CONFIRMED",
                ["name"] = $"SQS Bench {n}",
                ["email"] = $"{prefix}{n}@example.com",
                ["preferred_username"] = $"{prefix}{n}",
            },
        },
        response = new { },
    });
}

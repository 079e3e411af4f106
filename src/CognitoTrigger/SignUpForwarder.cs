using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Amazon.SQS;
using Amazon.SQS.Model;
using Cruddur.Shared.Aws;
using Cruddur.Shared.Resilience;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Polly;

namespace Cruddur.CognitoTrigger;

/// <summary>
/// What the trigger does with one Cognito event: a confirmed sign-up goes to the users queue as one SQS
/// message whose body is the event as Cognito sent it (docs/architecture.md, "SQS contract"); a password reset is not a
/// sign-up and sends nothing. The event goes back unchanged, as Cognito requires. Logs name the trigger
/// source and the user's sub, never the email or the name.
/// </summary>
public sealed partial class SignUpForwarder(IAmazonSQS sqs, string queueUrl, ILogger logger, RetryBounds? budget = null)
{
    public const string QueueUrlKey = "COGNITO_USERS_QUEUE_URL";
    public const string SignUp = "PostConfirmation_ConfirmSignUp";
    public const string ForgotPassword = "PostConfirmation_ConfirmForgotPassword";

    /// <summary>
    /// Cognito gives up on a trigger after about 5 s (and the deploy sets the function's timeout to 5 s), so all
    /// attempts together stop at 4 s: then the handler throws, and Cognito's answer and the logs show it.
    /// </summary>
    public static RetryBounds DefaultBudget { get; } = new()
    {
        MaxRetryAttempts = 4,
        FirstDelay = TimeSpan.FromMilliseconds(100),
        MaxDelay = TimeSpan.FromSeconds(1),
        AttemptTimeout = TimeSpan.FromSeconds(1.5), // one SendMessage; SQS answers in milliseconds
        TotalTimeout = TimeSpan.FromSeconds(4),
    };

    private readonly RetryBounds _budget = budget ?? DefaultBudget;

    private readonly ResiliencePipeline _send = SendPipeline(budget ?? DefaultBudget, logger);

    /// <summary>
    /// The <see cref="Retries.SignUpSend"/> pipeline. A Lambda has no host to hold a pipeline registry, so the trigger builds
    /// its one pipeline here, in the shape every Cruddur retry has.
    /// </summary>
    internal static ResiliencePipeline SendPipeline(RetryBounds budget, ILogger logger) =>
        new ResiliencePipelineBuilder { Name = Retries.SignUpSend }.AddBoundedRetry(budget, logger, "Sending the sign-up to SQS").Build();

    /// <summary>A forwarder for the queue <c>COGNITO_USERS_QUEUE_URL</c> names, in <c>AWS_REGION</c> (or at <c>AWS_ENDPOINT_URL</c>).</summary>
    /// <exception cref="InvalidOperationException"><c>COGNITO_USERS_QUEUE_URL</c> is not set.</exception>
    public static SignUpForwarder FromConfiguration(IConfiguration configuration, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var queueUrl = configuration[QueueUrlKey];
        if (string.IsNullOrWhiteSpace(queueUrl))
        {
            throw new InvalidOperationException($"{QueueUrlKey} is not set: the function's environment must name the users queue (bin/cognito-trigger-deploy sets it).");
        }
        // The Polly pipeline is the one retry layer: SDK retries inside it would overrun Cognito's 5 s.
        var sqs = new AmazonSQSClient(AwsClientConfiguration.Apply(new AmazonSQSConfig { MaxErrorRetry = 0 }, configuration));
        return new SignUpForwarder(sqs, queueUrl.Trim(), logger);
    }

    /// <summary>Handles one event and returns it unchanged.</summary>
    /// <exception cref="SignUpNotQueuedException">A sign-up could not be put on the queue within the budget.</exception>
    /// <exception cref="ArgumentException">The event is not a JSON object.</exception>
    public async Task<Stream> HandleAsync(Stream input, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        var bytes = new MemoryStream();
        await input.CopyToAsync(bytes, cancellationToken);
        var body = Encoding.UTF8.GetString(bytes.GetBuffer(), 0, (int)bytes.Length);
        var (trigger, sub) = Read(body);

        switch (trigger)
        {
            case SignUp:
                var clock = Stopwatch.StartNew();
                var messageId = await SendAsync(body, sub, cancellationToken);
                LogQueued(trigger, sub, messageId, clock.Elapsed.TotalMilliseconds);
                break;
            case ForgotPassword:
                LogNotASignUp(trigger, sub);
                break;
            default:
                LogUnexpectedTrigger(trigger, sub);
                break;
        }
        bytes.Position = 0;
        return bytes;
    }

    private async Task<string> SendAsync(string body, string sub, CancellationToken cancellationToken)
    {
        try
        {
            var response = await _send.ExecuteAsync(
                async token => await sqs.SendMessageAsync(new SendMessageRequest(queueUrl, body), token), cancellationToken);
            return response.MessageId;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The details (an AccessDenied names the account, the role and the queue) go to the function's log only:
            // Cognito shows the exception's message to the person signing up.
            LogNotQueued(sub, _budget.TotalTimeout.TotalSeconds, e.GetType().Name, e.Message);
            throw new SignUpNotQueuedException(
                $"The sign-up of sub {sub} was not put on the users queue; the Cognito trigger's log says why.", e);
        }
    }

    /// <summary>The trigger source and the user's sub (the only attributes ever logged).</summary>
    private static (string Trigger, string Sub) Read(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new ArgumentException($"The trigger event is not a JSON object ({root.ValueKind}).");
            }
            var trigger = root.TryGetProperty("triggerSource", out var source) && source.ValueKind == JsonValueKind.String ? source.GetString()! : "(none)";
            var sub = root.TryGetProperty("request", out var request) && request.ValueKind == JsonValueKind.Object
                && request.TryGetProperty("userAttributes", out var attributes) && attributes.ValueKind == JsonValueKind.Object
                && attributes.TryGetProperty("sub", out var value) && value.ValueKind == JsonValueKind.String
                ? value.GetString()! : "(none)";
            return (trigger, sub);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"The trigger event is not JSON: {e.Message}", e);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Trigger} for sub {Sub}: queued as SQS message {MessageId} in {DurationMs:0} ms")]
    private partial void LogQueued(string trigger, string sub, string messageId, double durationMs);

    [LoggerMessage(Level = LogLevel.Error, Message = "Sign-up of sub {Sub} not queued (attempts stop after {BudgetSeconds:0.#} s): {Error}: {Reason}; send it again with bin/sqs-send-cognito-event")]
    private partial void LogNotQueued(string sub, double budgetSeconds, string error, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Trigger} for sub {Sub}: a password reset, not a sign-up; nothing queued")]
    private partial void LogNotASignUp(string trigger, string sub);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Trigger} for sub {Sub}: not a post confirmation; nothing queued (is the function attached to the user pool's PostConfirmation trigger?)")]
    private partial void LogUnexpectedTrigger(string trigger, string sub);
}

/// <summary>A confirmed sign-up could not be put on the users queue: the trigger fails, so Cognito and the logs show it.</summary>
public sealed class SignUpNotQueuedException(string message, Exception inner) : Exception(message, inner);

using System.Globalization;

namespace Cruddur.Api.Users;

/// <summary>Where and how the Api reads Cognito sign-ups from SQS; read from the environment.</summary>
public sealed class CognitoUsersIngressOptions
{
    public const string QueueUrlKey = "COGNITO_USERS_QUEUE_URL";
    public const string DeadLetterQueueUrlKey = "COGNITO_USERS_DLQ_URL";
    public const string PollersKey = "COGNITO_USERS_POLLERS";
    public const string WaitSecondsKey = "COGNITO_USERS_WAIT_SECONDS";

    /// <summary>The message attribute a dead-lettered message carries: why it cannot be a user.</summary>
    public const string RejectReasonAttribute = "cruddur-reject-reason";

    /// <summary>The users queue; the ingress is off when it is not set.</summary>
    public string? QueueUrl { get; set; }

    /// <summary>Where bodies that cannot be a user go; without it they are left for the queue's redrive policy.</summary>
    public string? DeadLetterQueueUrl { get; set; }

    /// <summary>Concurrent receive loops in this process.</summary>
    public int Pollers { get; set; } = 1;

    /// <summary>Long-poll wait per receive, 0–20 s: 20 costs the fewest requests.</summary>
    public int WaitTimeSeconds { get; set; } = 20;

    /// <summary>Messages per receive, 1–10 (SQS's maximum is 10).</summary>
    public int MaxMessages { get; set; } = 10;

    /// <summary>First pause after Postgres or SQS failed; doubled per failure up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan FirstBackoff { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    public static CognitoUsersIngressOptions From(IConfiguration configuration) => new()
    {
        QueueUrl = NullIfBlank(configuration[QueueUrlKey]),
        DeadLetterQueueUrl = NullIfBlank(configuration[DeadLetterQueueUrlKey]),
        Pollers = Int(configuration, PollersKey, 1),
        WaitTimeSeconds = Int(configuration, WaitSecondsKey, 20),
    };

    /// <exception cref="InvalidOperationException">A value is out of its range; the message names the variable.</exception>
    public void Validate()
    {
        if (Pollers is < 1 or > 50)
        {
            throw new InvalidOperationException($"{PollersKey} must be between 1 and 50 (was {Pollers}).");
        }
        if (WaitTimeSeconds is < 0 or > 20)
        {
            throw new InvalidOperationException($"{WaitSecondsKey} must be between 0 and 20 (was {WaitTimeSeconds}).");
        }
        if (MaxMessages is < 1 or > 10)
        {
            throw new InvalidOperationException($"The receive batch must hold 1 to 10 messages (was {MaxMessages}).");
        }
    }

    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static int Int(IConfiguration configuration, string key, int fallback)
    {
        var value = configuration[key];
        if (string.IsNullOrWhiteSpace(value))
        {
            return fallback;
        }
        return int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed)
            ? parsed
            : throw new InvalidOperationException($"{key} must be a whole number (was '{value}').");
    }
}

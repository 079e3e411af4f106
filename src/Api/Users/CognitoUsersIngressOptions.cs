using System.ComponentModel.DataAnnotations;

namespace Cruddur.Api.Users;

/// <summary>Where and how the Api reads Cognito sign-ups from SQS; bound from the environment.</summary>
public sealed class CognitoUsersIngressOptions
{
    public const string QueueUrlKey = "COGNITO_USERS_QUEUE_URL";
    public const string DeadLetterQueueUrlKey = "COGNITO_USERS_DLQ_URL";
    public const string PollersKey = "COGNITO_USERS_POLLERS";
    public const string WaitSecondsKey = "COGNITO_USERS_WAIT_SECONDS";
    public const string UserPoolIdKey = "COGNITO_USER_POOL_ID";

    /// <summary>The message attribute a dead-lettered message carries: why it cannot be a user.</summary>
    public const string RejectReasonAttribute = "cruddur-reject-reason";

    /// <summary>The users queue; the ingress is off when it is not set.</summary>
    [ConfigurationKeyName(QueueUrlKey)]
    public string? QueueUrl { get; set; }

    /// <summary>Where bodies that cannot be a user go; without it they are left for the queue's redrive policy.</summary>
    [ConfigurationKeyName(DeadLetterQueueUrlKey)]
    public string? DeadLetterQueueUrl { get; set; }

    /// <summary>
    /// The user pool whose sign-ups are taken (the one whose tokens may post): an event from any other pool is
    /// dead-lettered, so that whoever may send to the queue cannot overwrite a user. Unset, any pool's is taken.
    /// </summary>
    [ConfigurationKeyName(UserPoolIdKey)]
    public string? UserPoolId { get; set; }

    /// <summary>Concurrent receive loops in this process.</summary>
    [ConfigurationKeyName(PollersKey), Display(Name = PollersKey), Range(1, 50)]
    public int Pollers { get; set; } = 1;

    /// <summary>Long-poll wait per receive, 0–20 s: 20 costs the fewest requests.</summary>
    [ConfigurationKeyName(WaitSecondsKey), Display(Name = WaitSecondsKey), Range(0, 20)]
    public int WaitTimeSeconds { get; set; } = 20;

    /// <summary>Messages per receive, 1–10 (SQS's maximum is 10); not a setting.</summary>
    [Display(Name = "The receive batch"), Range(1, 10)]
    public int MaxMessages { get; set; } = 10;

    /// <summary>First pause after Postgres or SQS failed; doubled per failure up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan FirstBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The longest pause: a failed round costs one receive and one connection attempt, and a longer pause only delays the
    /// resume after an outage (doubling to 30 s, a poller that failed through a 30 s outage could be asleep for 8-16 s
    /// after it ended; issue 35 asks for 5 s).
    /// </summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(2);
}

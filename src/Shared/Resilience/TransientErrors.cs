using System.Net;
using System.Net.Sockets;
using Amazon.Runtime;
using Npgsql;
using Polly.Timeout;

namespace Cruddur.Shared.Resilience;

/// <summary>The one classifier of failures a later attempt can fix (the database's and AWS's), and how a failure is told in a log line.</summary>
public static class TransientErrors
{
    /// <summary>
    /// True for what a later attempt can fix, or what is caused by one: from PostgreSQL connection failures (08xxx, I/O),
    /// the server shutting down or restarting (57P0x), too many connections (53300), serialization failures and deadlocks
    /// (40001, 40P01); from AWS or HTTP the network (refused, reset, timed out), 5xx and 429 answers and throttling
    /// (RequestLimitExceeded and friends). Bad data, a missing resource or bad credentials are not.
    /// Wrapped errors count by their cause (Hangfire's client wraps Npgsql's errors; the AWS SDK wraps the network's).
    /// </summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        PostgresException postgres => postgres.IsTransient
            || postgres.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected
            || postgres.SqlState.StartsWith("08", StringComparison.Ordinal)
            || postgres.SqlState.StartsWith("57P0", StringComparison.Ordinal),
        NpgsqlException npgsql => npgsql.IsTransient,
        TimeoutException or TimeoutRejectedException => true,
        AmazonServiceException aws => IsThrottling(aws.ErrorCode)
            || aws.Retryable is not null
            || (int)aws.StatusCode >= 500
            || aws.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout
            || (aws.StatusCode == 0 && aws.InnerException is { } inner && IsTransient(inner)), // no answer at all
        HttpRequestException { StatusCode: null } => true, // refused, reset, DNS
        HttpRequestException { StatusCode: { } status } => (int)status >= 500 || status is HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout,
        SocketException or IOException => true,
        _ => exception.InnerException is { } cause && IsTransient(cause),
    };

    /// <summary>A failure in a line for a log or a job's reason: a PostgreSQL or AWS error code, an HTTP status, else type and message.</summary>
    public static string Describe(Exception? exception) => exception switch
    {
        null => "none",
        PostgresException postgres => $"{postgres.SqlState} {postgres.MessageText}",
        AmazonServiceException aws when !string.IsNullOrEmpty(aws.ErrorCode) => $"{aws.ErrorCode}: {aws.Message}",
        HttpRequestException { StatusCode: { } status } => $"HTTP {(int)status} {status}",
        _ => $"{exception.GetType().Name}: {exception.Message}",
    };

    private static bool IsThrottling(string? code) => code is "RequestLimitExceeded" or "Throttling" or "ThrottlingException"
        or "RequestThrottled" or "RequestThrottledException" or "TooManyRequestsException" or "SlowDown";
}

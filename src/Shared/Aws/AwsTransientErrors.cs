using System.Net;
using System.Net.Sockets;
using Amazon.Runtime;
using Polly.Timeout;

namespace Cruddur.Shared.Aws;

/// <summary>Which failures of an AWS call (or of a plain HTTP call beside one) a later attempt can fix.</summary>
public static class AwsTransientErrors
{
    /// <summary>
    /// True for what a later attempt can fix: the network (refused, reset, timed out), 5xx and 429 answers,
    /// and AWS throttling (RequestLimitExceeded and friends). A missing resource or bad credentials are not.
    /// </summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        TimeoutRejectedException => true,
        AmazonServiceException aws => IsThrottling(aws.ErrorCode)
            || aws.Retryable is not null
            || (int)aws.StatusCode >= 500
            || aws.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout
            || (aws.StatusCode == 0 && aws.InnerException is { } inner && IsTransient(inner)), // no answer at all
        HttpRequestException { StatusCode: null } => true, // refused, reset, DNS
        HttpRequestException { StatusCode: { } status } => (int)status >= 500 || status is HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout,
        SocketException or IOException => true,
        AmazonClientException { InnerException: { } inner } => IsTransient(inner),
        _ => false,
    };

    private static bool IsThrottling(string? code) => code is "RequestLimitExceeded" or "Throttling" or "ThrottlingException"
        or "RequestThrottled" or "RequestThrottledException" or "TooManyRequestsException" or "SlowDown";
}

using Cruddur.Api.CrossOrigin;
using Hangfire;

namespace Cruddur.Api.Jobs;

/// <summary>Where a queued piece of work is: what a client polls after a 202.</summary>
public static class JobsApi
{
    public static RouteGroupBuilder MapJobsApi(this IEndpointRouteBuilder routes)
    {
        var api = routes.MapGroup("/api/jobs").WithTags("Jobs").RequireCors(FrontendCors.PolicyName);
        api.MapGet("/{jobId}", Get)
            .Produces<JobStatus>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return api;
    }

    /// <summary>
    /// <c>{"state":"enqueued|processing|succeeded|failed","reason":...}</c> from Hangfire's storage, or 404. Anyone may
    /// ask (ids are sequential, and a batch job holds many users' posts), so the reason is a fixed sentence per state:
    /// a job's own error names handles and Cognito subs, and stays in the dashboard and the logs.
    /// </summary>
    public static IResult Get(string jobId, JobStorage storage)
    {
        // Hangfire parses the id as a long: a longer number would throw (a 500) instead of being unknown.
        if (jobId.Length is 0 or > 19 || !jobId.All(char.IsAsciiDigit) || !long.TryParse(jobId, System.Globalization.CultureInfo.InvariantCulture, out _))
        {
            return NotFound(jobId);
        }
        using var connection = storage.GetConnection();
        var state = connection.GetStateData(jobId);
        if (state is null)
        {
            return NotFound(jobId);
        }
        return TypedResults.Ok(state.Name switch
        {
            "Succeeded" => new JobStatus("succeeded", null),
            "Processing" => new JobStatus("processing", null),
            "Failed" => new JobStatus("failed", FailedReason),
            "Deleted" => new JobStatus("failed", DeletedReason),
            "Enqueued" => new JobStatus("enqueued", null),
            // Waiting for a retry (Scheduled) or a parent (Awaiting): still to run.
            _ => new JobStatus("enqueued", RetryReason),
        });
    }

    public const string FailedReason = "The job failed; its error is in the jobs dashboard and the logs.";

    public const string DeletedReason = "An operator deleted the job; it will not run.";

    public const string RetryReason = "The job will run again after a transient error.";

    private static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult NotFound(string jobId) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such job", detail: $"There is no job {jobId}.");
}

public sealed record JobStatus(string State, string? Reason);

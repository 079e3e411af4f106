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

    /// <summary><c>{"state":"enqueued|processing|succeeded|failed","reason":...}</c> from Hangfire's storage, or 404.</summary>
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
            // A failed job's reason is its error (our functions make it readable); a deleted one was given up by an operator.
            "Failed" => new JobStatus("failed", ExceptionMessage(state.Data) ?? state.Reason),
            "Deleted" => new JobStatus("failed", $"deleted: {state.Reason}"),
            "Enqueued" => new JobStatus("enqueued", null),
            // Waiting for a retry (Scheduled) or a parent (Awaiting): still to run, the last error as its reason.
            _ => new JobStatus("enqueued", state.Reason),
        });
    }

    private static string? ExceptionMessage(IDictionary<string, string> data) =>
        data.TryGetValue("ExceptionMessage", out var message) ? message : null;

    private static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult NotFound(string jobId) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such job", detail: $"There is no job {jobId}.");
}

public sealed record JobStatus(string State, string? Reason);

using Hangfire;
using Hangfire.Server;

namespace Cruddur.Shared.Jobs;

/// <summary>
/// The one method every job stored by Cruddur calls. Hangfire stores the function's name, the JSON payload and
/// the enqueuing request's trace context as the call's arguments, so the Api needs no Worker type; the Worker
/// implements it by finding the function and running it with its middleware. The dashboard shows the function's name.
/// </summary>
public interface IFunctionDispatcher
{
    /// <param name="function">The function's name, as in <c>[Function("create-activity")]</c>.</param>
    /// <param name="payload">The contract as JSON (<see cref="JobPayload"/>): one object, or an array for a batch.</param>
    /// <param name="traceParent">
    /// The W3C trace context of the request that enqueued the job, or null. An argument rather than a job
    /// parameter: a parameter costs an INSERT per enqueue and a SELECT per run (docs/lab/post-path.md).
    /// </param>
    /// <param name="context">Supplied by Hangfire when the job runs; enqueue <c>null</c>.</param>
    /// <param name="cancellationToken">Supplied by Hangfire: cancelled when the server shuts down.</param>
    [JobDisplayName("{0}")]
    Task DispatchAsync(string function, string payload, string? traceParent, PerformContext? context, CancellationToken cancellationToken);

    /// <summary>
    /// The call stored by Cruddur before the trace context became an argument: a job enqueued by an older Api
    /// still runs, with its trace context read from the "traceparent" job parameter it was stored with.
    /// </summary>
    [JobDisplayName("{0}")]
    Task DispatchAsync(string function, string payload, PerformContext? context, CancellationToken cancellationToken) =>
        DispatchAsync(function, payload, context?.GetJobParameter<string>(LegacyTraceParentParameter), context, cancellationToken);

    /// <summary>The job parameter older Apis stored the trace context in.</summary>
    const string LegacyTraceParentParameter = "traceparent";
}

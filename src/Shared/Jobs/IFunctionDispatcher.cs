using Hangfire;
using Hangfire.Server;

namespace Cruddur.Shared.Jobs;

/// <summary>
/// The one method every job stored by Cruddur calls. Hangfire stores the function's name and the JSON
/// payload, so the Api needs no Worker type; the Worker implements it by finding the function and running
/// it with its middleware. The dashboard shows the function's name.
/// </summary>
public interface IFunctionDispatcher
{
    /// <param name="function">The function's name, as in <c>[Function("create-activity")]</c>.</param>
    /// <param name="payload">The contract as JSON (<see cref="JobPayload"/>): one object, or an array for a batch.</param>
    /// <param name="context">Supplied by Hangfire when the job runs; enqueue <c>null</c>.</param>
    /// <param name="cancellationToken">Supplied by Hangfire: cancelled when the server shuts down.</param>
    [JobDisplayName("{0}")]
    Task DispatchAsync(string function, string payload, PerformContext? context, CancellationToken cancellationToken);
}

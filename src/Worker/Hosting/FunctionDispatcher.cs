using Cruddur.Shared.Jobs;
using Hangfire.Server;
using Microsoft.Extensions.Logging;

namespace Cruddur.Worker.Hosting;

/// <summary>
/// The Worker's side of <see cref="IFunctionDispatcher"/>: Hangfire resolves it in a fresh DI scope per job,
/// which becomes the invocation's scope; it finds the function and runs the middleware pipeline.
/// </summary>
internal sealed class FunctionDispatcher(
    FunctionCatalog catalog, FunctionPipeline pipeline, IServiceProvider scope, ILoggerFactory loggers) : IFunctionDispatcher
{
    public Task DispatchAsync(string function, string payload, string? traceParent, PerformContext? context, CancellationToken cancellationToken)
    {
        // Not a permanent failure: in a rolling deploy an Api can queue a new function's job before every Worker has it,
        // and Hangfire's retry hands the job on until one that has it takes it.
        if (!catalog.TryGet(function, out var descriptor))
        {
            throw new InvalidOperationException(
                $"This Worker has no function named '{function}' (it has: {string.Join(", ", catalog.Functions.Select(f => f.Name))}); " +
                "retried, so a Worker that has it runs it: deploy Workers before the Api that queues a new function.");
        }
        // Hangfire counts retries in the job's "RetryCount" parameter; the first run has none. Its retry filter sets it while
        // the job's lock is held, before the job is queued again: the snapshot read with the job under that lock, as it went
        // to Processing, is current (a query when the storage gives none).
        var attempt = context is null ? 1 : context.GetJobParameter<int>("RetryCount", allowStale: true) + 1;
        var invocation = new FunctionContext(
            descriptor, context?.BackgroundJob.Id, attempt, payload, scope, loggers.CreateLogger($"Cruddur.Functions.{function}"), cancellationToken)
        {
            TraceParent = traceParent,
        };
        return pipeline.RunAsync(invocation);
    }
}

using System.Diagnostics;
using System.Reflection;
using Cruddur.HangfireOverrides;
using Hangfire.Common;
using Hangfire.Server;

namespace Cruddur.Shared.Jobs;

/// <summary>
/// <see cref="IJobQueue"/> on Hangfire: stores a call to <see cref="IFunctionDispatcher"/> naming the
/// contract's function, on the contract's queue.
/// </summary>
internal sealed class HangfireJobQueue(BatchingPostgreSqlStorage storage) : IJobQueue
{
    private static readonly MethodInfo Dispatch = typeof(IFunctionDispatcher).GetMethod(
        nameof(IFunctionDispatcher.DispatchAsync), [typeof(string), typeof(string), typeof(string), typeof(PerformContext), typeof(CancellationToken)])!;

    public Task<string> EnqueueAsync<T>(T job, CancellationToken cancellationToken = default)
        where T : notnull =>
        Task.FromResult(Create(JobContractAttribute.Of(typeof(T)), JobPayload.Serialize(job), cancellationToken));

    public Task<string> EnqueueBatchAsync<T>(IReadOnlyCollection<T> jobs, CancellationToken cancellationToken = default)
        where T : notnull
    {
        ArgumentOutOfRangeException.ThrowIfZero(jobs.Count);
        return Task.FromResult(Create(JobContractAttribute.Of(typeof(T)), JobPayload.Serialize(jobs), cancellationToken));
    }

    // The write is synchronous, like Hangfire's client: Create returns after the job's statement commits.
    // The queue goes on the job itself: a retry (DelayedJobScheduler) or a dashboard Requeue enqueues a bare
    // EnqueuedState, and without the job's own queue that lands in "default", which no Worker serves.
    // The current trace context travels as an argument, so the Worker's invocation continues the enqueuing request's trace.
    // The job, its Enqueued state and its queue row are one statement: a crash stores all three or none.
    private string Create(JobContractAttribute contract, string payload, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var traceParent = Activity.Current is { IdFormat: ActivityIdFormat.W3C } activity ? activity.Id : null;
        // The call built directly: Job.FromExpression compiles and fingerprints the expression on every enqueue.
        var job = new Job(typeof(IFunctionDispatcher), Dispatch, [contract.Function, payload, traceParent, null!, CancellationToken.None], contract.Queue);
        return storage.CreateEnqueuedJob(job, contract.Queue);
    }
}

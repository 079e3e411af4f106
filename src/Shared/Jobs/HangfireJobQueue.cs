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
        where T : notnull
    {
        var contract = JobContractAttribute.Of(typeof(T));
        return storage.CreateEnqueuedJobAsync(Call(contract, JobPayload.Serialize(job)), contract.Queue, cancellationToken);
    }

    public Task<string> EnqueueBatchAsync<T>(IReadOnlyCollection<T> jobs, CancellationToken cancellationToken = default)
        where T : notnull
    {
        ArgumentOutOfRangeException.ThrowIfZero(jobs.Count);
        var contract = JobContractAttribute.Of(typeof(T));
        return storage.CreateEnqueuedJobAsync(Call(contract, JobPayload.Serialize(jobs)), contract.Queue, cancellationToken);
    }

    public string EnqueueBatch<T>(IReadOnlyCollection<T> jobs)
        where T : notnull
    {
        ArgumentOutOfRangeException.ThrowIfZero(jobs.Count);
        var contract = JobContractAttribute.Of(typeof(T));
        return storage.CreateEnqueuedJob(Call(contract, JobPayload.Serialize(jobs)), contract.Queue);
    }

    public string OpenBatch<T>(IReadOnlyCollection<T> jobs, string? closing)
        where T : notnull
    {
        ArgumentOutOfRangeException.ThrowIfZero(jobs.Count);
        var contract = JobContractAttribute.Of(typeof(T));
        return storage.OpenJob(Call(contract, JobPayload.Serialize(jobs)), contract.Queue, closing);
    }

    // The payload is the call's second argument (Dispatch's "payload"), a JSON array for a batch.
    public bool AppendToBatch<T>(string jobId, IReadOnlyCollection<T> jobs)
        where T : notnull
    {
        ArgumentOutOfRangeException.ThrowIfZero(jobs.Count);
        return storage.AppendToOpenJob(jobId, PayloadArgument, JobPayload.Serialize(jobs));
    }

    public void CloseBatch<T>(string jobId)
        where T : notnull => storage.CloseOpenJob(jobId, JobContractAttribute.Of(typeof(T)).Queue);

    private const int PayloadArgument = 1;

    // Each returns after the job's statement commits; the job, its Enqueued state and its queue row are one statement,
    // so a crash stores all three or none.
    // The queue goes on the job itself: a retry (DelayedJobScheduler) or a dashboard Requeue enqueues a bare
    // EnqueuedState, and without the job's own queue that lands in "default", which no Worker serves.
    // The current trace context travels as an argument, so the Worker's invocation continues the enqueuing request's trace.
    // The call is built directly: Job.FromExpression compiles and fingerprints the expression on every enqueue.
    private static Job Call(JobContractAttribute contract, string payload)
    {
        var traceParent = Activity.Current is { IdFormat: ActivityIdFormat.W3C } activity ? activity.Id : null;
        return new Job(typeof(IFunctionDispatcher), Dispatch, [contract.Function, payload, traceParent, null!, CancellationToken.None], contract.Queue);
    }
}

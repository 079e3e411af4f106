using System.Diagnostics;
using System.Transactions;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;

namespace Cruddur.Shared.Jobs;

/// <summary>
/// <see cref="IJobQueue"/> on Hangfire: stores a call to <see cref="IFunctionDispatcher"/> naming the
/// contract's function, on the contract's queue.
/// </summary>
public sealed class HangfireJobQueue(IBackgroundJobClient client) : IJobQueue
{
    public Task<string> EnqueueAsync<T>(T job, CancellationToken cancellationToken = default)
        where T : notnull =>
        Task.FromResult(Create(JobContractAttribute.Of(typeof(T)), JobPayload.Serialize(job), cancellationToken));

    public Task<string> EnqueueBatchAsync<T>(IReadOnlyCollection<T> jobs, CancellationToken cancellationToken = default)
        where T : notnull
    {
        ArgumentOutOfRangeException.ThrowIfZero(jobs.Count);
        return Task.FromResult(Create(JobContractAttribute.Of(typeof(T)), JobPayload.Serialize(jobs), cancellationToken));
    }

    // Hangfire.PostgreSql's client is synchronous: Create returns after the job's transaction commits.
    // The queue goes on the job itself: a retry (DelayedJobScheduler) or a dashboard Requeue enqueues a bare
    // EnqueuedState, and without the job's own queue that lands in "default", which no Worker serves.
    // The current trace context travels as an argument, so the Worker's invocation continues the enqueuing request's trace.
    private string Create(JobContractAttribute contract, string payload, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var traceParent = Activity.Current is { IdFormat: ActivityIdFormat.W3C } activity ? activity.Id : null;
        var job = Job.FromExpression<IFunctionDispatcher>(
            dispatcher => dispatcher.DispatchAsync(contract.Function, payload, traceParent, null, CancellationToken.None), contract.Queue);
        // Hangfire.PostgreSql writes a new job in two transactions (the job row, then its Enqueued state and queue
        // row), each a commit the post waits for. In an ambient scope both join it (the storage's
        // EnableTransactionScopeEnlistment) on one connection (Npgsql hands the enlisted one back), so a job is
        // stored with one commit, and a crash between the two can no longer leave a job without a state.
        using var scope = new TransactionScope(TransactionScopeOption.RequiresNew,
            new TransactionOptions { IsolationLevel = IsolationLevel.ReadCommitted, Timeout = TransactionManager.DefaultTimeout });
        var id = client.Create(job, new EnqueuedState(contract.Queue));
        scope.Complete();
        return id;
    }
}

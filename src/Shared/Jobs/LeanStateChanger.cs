using System.Transactions;
using Hangfire.Common;
using Hangfire.PostgreSql;
using Hangfire.States;
using Npgsql;

namespace Cruddur.Shared.Jobs;

/// <summary>
/// Hangfire's state changer (<see cref="BackgroundJobStateChanger"/>: its filters, its state machine and its checks, unchanged)
/// run inside one transaction of <see cref="LeanPostgreSqlStorage"/>: the job's lock, its read and the new state's writes
/// commit together. Hangfire.PostgreSql gives a state change a transaction of its own for each of the lock's delete of an
/// expired holder, its insert, the writes and the lock's release: besides one round trip per write, 7 round trips and 4
/// commits where this takes 2 and 1 (Processing 9-10 against 4-5, Succeeded 12-13 against 7-8; docs/performance.md,
/// "One transaction per state change"). The job's call is read and deserialized once per Worker
/// invocation instead of at each of its two state changes.
/// <para>
/// What takes the library's own path: a change whose caller brings its own transaction, Hangfire's last resort after failed
/// attempts (<see cref="StateChangeContext.DisableFilters"/>), and a connection of another storage. Not carried over:
/// <see cref="StateChangeContext.CustomData"/> (what the job's performance left for state filters; no Cruddur filter reads
/// it) and Hangfire's slow-filter profiler.
/// </para>
/// </summary>
internal sealed class LeanStateChanger(IJobFilterProvider filters) : IBackgroundJobStateChanger
{
    // BackgroundJobStateChanger's own wait for a job's lock.
    private static readonly TimeSpan LockTimeout = TimeSpan.FromMinutes(15);

    private readonly BackgroundJobStateChanger _changer = new(filters);

    public IState? ChangeState(StateChangeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Transaction is not null || context.DisableFilters || context.Connection is not LeanPostgreSqlStorage.Connection connection)
        {
            return _changer.ChangeState(context);
        }

        // The library's write transaction joins this scope (EnableTransactionScopeEnlistment), so its writes commit with the
        // lock, when the scope ends, before the connection goes back to the pool.
        LeanPostgreSqlStorage.Connection.JobLock? locked = null;
        try
        {
            var inTransaction = default(StateChangeContext);
            IState? applied;
            using (var scope = new TransactionScope(TransactionScopeOption.Required,
                new TransactionOptions { IsolationLevel = IsolationLevel.ReadCommitted, Timeout = TransactionManager.MaximumTimeout }))
            {
                locked = connection.LockForStateChange(context.BackgroundJobId, LockTimeout, context.CancellationToken);
                using var transaction = new LockedTransaction(connection.Storage, locked.Connection, context.BackgroundJobId);
                inTransaction = new StateChangeContext(
                    context.Storage, connection, transaction, context.BackgroundJobId, context.NewState, context.ExpectedStates, context.CancellationToken)
                {
                    ServerId = context.ServerId,
                };
                applied = _changer.ChangeState(inTransaction);
                if (applied is not null)
                {
                    transaction.Commit();
                    scope.Complete();
                }
            }
            context.ProcessedJob = inTransaction.ProcessedJob;
            return applied;
        }
        finally
        {
            locked?.Dispose();
        }
    }

    // The library's write transaction on the connection that holds the job's lock; the changer asks for that lock again.
    private sealed class LockedTransaction(PostgreSqlStorage storage, NpgsqlConnection connection, string jobId)
        : PostgreSqlWriteOnlyTransaction(storage, () => connection)
    {
        public override void AcquireDistributedLock(string resource, TimeSpan timeout)
        {
            if (resource != $"job:{jobId}:state-lock")
            {
                throw new NotSupportedException($"This transaction holds job {jobId}'s state lock only, not {resource}.");
            }
        }
    }
}

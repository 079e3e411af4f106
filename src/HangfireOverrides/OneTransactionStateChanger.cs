using System.Globalization;
using System.Transactions;
using Hangfire.Common;
using Hangfire.PostgreSql;
using Hangfire.States;
using Npgsql;

namespace Cruddur.HangfireOverrides;

/// <summary>
/// Hangfire's state changer (<see cref="BackgroundJobStateChanger"/>: its filters, its state machine and its checks, unchanged)
/// run inside one transaction of <see cref="BatchingPostgreSqlStorage"/>: the job's lock, its read and the new state's writes
/// commit together. Hangfire.PostgreSql gives a state change a transaction of its own for each of the lock's delete of an
/// expired holder, its insert, the writes and the lock's release, and one round trip to each write: Processing 9-10 round
/// trips and 4 commits, Succeeded 12-13; this takes 4 and 1 for either, its writes sent in one batch (docs/architecture.md,
/// "Hangfire overrides"; docs/upstream/hangfire-postgresql-one-batch-per-commit.md). The job's call is read and
/// deserialized once per Worker invocation instead of at each of its two state changes.
/// <para>
/// What takes the library's own path: a change whose caller brings its own transaction, Hangfire's last resort after failed
/// attempts (<see cref="StateChangeContext.DisableFilters"/>), and a connection of another storage. Not carried over:
/// <see cref="StateChangeContext.CustomData"/> (what the job's performance left for state filters; no Cruddur filter reads
/// it) and Hangfire's slow-filter profiler.
/// </para>
/// </summary>
public sealed class OneTransactionStateChanger(IJobFilterProvider filters) : IBackgroundJobStateChanger
{
    // BackgroundJobStateChanger's own wait for a job's lock.
    private static readonly TimeSpan LockTimeout = TimeSpan.FromMinutes(15);

    private readonly BackgroundJobStateChanger _changer = new(filters);

    public IState? ChangeState(StateChangeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        // The library's write transaction joins the change's scope only with EnableTransactionScopeEnlistment (its default):
        // without it, the writes would commit apart from the lock.
        if (context.Transaction is not null || context.DisableFilters || context.Connection is not BatchingPostgreSqlStorage.Connection connection
            || !connection.Storage.EnlistsInTransactionScope)
        {
            return _changer.ChangeState(context);
        }

        // The library's write transaction joins this scope (EnableTransactionScopeEnlistment), so its writes commit with the
        // lock, when the scope ends, before the connection goes back to the pool.
        BatchingPostgreSqlStorage.Connection.JobLock? locked = null;
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
    // The writes every state change makes (the job's state and expiry, the statistics counters) go to the server in one
    // batch at Commit, where the library sends each as its own round trip: its SQL, in the order the changer wrote them.
    // The rarer writes (sets, lists, hashes, queues) take the library's path after them, in the same transaction;
    // no write of a state change reads another's result, so the order between the two groups does not matter.
    private sealed class LockedTransaction(BatchingPostgreSqlStorage storage, NpgsqlConnection connection, string jobId)
        : PostgreSqlWriteOnlyTransaction(storage, () => connection)
    {
        private readonly StateWriteSql _sql = storage.StateWrites;
        private readonly NpgsqlBatch _writes = new(connection);
        private bool _durable;

        public override void AcquireDistributedLock(string resource, TimeSpan timeout)
        {
            if (resource != $"job:{jobId}:state-lock")
            {
                throw new NotSupportedException($"This transaction holds job {jobId}'s state lock only, not {resource}.");
            }
        }

        public override void SetJobState(string jobId, IState state)
        {
            ArgumentNullException.ThrowIfNull(state);
            // Processing waits for the disk even on the Worker's asynchronous bookkeeping pool. Were it lost in a server crash
            // that the Worker outlives, the job's next state (Succeeded, or Failed and its retry) would be refused, since it
            // expects Processing, and Hangfire would then remove the job from its queue anyway: a job left Enqueued that
            // nothing fetches, its posts lost if its run had failed (docs/reliability.md, "(i) full disk").
            _durable |= state.Name == ProcessingState.StateName;
            Write(_sql.SetJobState, Id(jobId), state.Name, (object?)state.Reason ?? DBNull.Value, DateTime.UtcNow, StateData(state));
        }

        public override void AddJobState(string jobId, IState state)
        {
            ArgumentNullException.ThrowIfNull(state);
            Write(_sql.AddJobState, Id(jobId), state.Name, (object?)state.Reason ?? DBNull.Value, DateTime.UtcNow, StateData(state));
        }

        public override void ExpireJob(string jobId, TimeSpan expireIn) => Write(_sql.ExpireJob, Id(jobId), (long)expireIn.TotalSeconds);

        public override void PersistJob(string jobId) => Write(_sql.PersistJob, Id(jobId));

        public override void IncrementCounter(string key) => Write(_sql.AddToCounter, key, 1L);

        public override void IncrementCounter(string key, TimeSpan expireIn) => Write(_sql.AddToExpiringCounter, key, 1L, (long)expireIn.TotalSeconds);

        public override void DecrementCounter(string key) => Write(_sql.AddToCounter, key, -1L);

        public override void DecrementCounter(string key, TimeSpan expireIn) => Write(_sql.AddToExpiringCounter, key, -1L, (long)expireIn.TotalSeconds);

        public override void Commit()
        {
            if (_durable)
            {
                _writes.BatchCommands.Insert(0, new NpgsqlBatchCommand("SET LOCAL synchronous_commit = on"));
            }
            if (_writes.BatchCommands.Count > 0)
            {
                _writes.ExecuteNonQuery();
            }
            base.Commit();
        }

        public override void Dispose()
        {
            _writes.Dispose();
            base.Dispose();
        }

        private void Write(string sql, params object[] values)
        {
            var command = new NpgsqlBatchCommand(sql);
            foreach (var value in values)
            {
                command.Parameters.Add(new NpgsqlParameter { Value = value });
            }
            _writes.BatchCommands.Add(command);
        }

        private static long Id(string jobId) => long.Parse(jobId, CultureInfo.InvariantCulture);

        // The library's JsonParameter: an empty data object is stored as {}.
        private static string StateData(IState state) => SerializationHelper.Serialize(state.SerializeData()) is { Length: > 0 } data ? data : "{}";
    }
}

namespace Cruddur.HangfireOverrides;

/// <summary>
/// The versions whose internals the files of this project copy or rely on: its SQL is Hangfire.PostgreSql's, its lock is the
/// library's row and name, its state changer hands Hangfire.Core's its transaction. A test fails when the packages in use
/// differ from these; on an upgrade, re-check <see cref="FilesToRecheck"/> against the new sources (docs/architecture.md,
/// "Hangfire overrides"), then change these numbers.
/// </summary>
public static class OverriddenHangfireVersions
{
    public const string HangfireCore = "1.8.25";

    public const string HangfirePostgreSql = "1.21.1";

    /// <summary>Each file of this project, with what in the library it depends on.</summary>
    public static IReadOnlyList<string> FilesToRecheck { get; } =
    [
        "src/HangfireOverrides/AbandonedOpenJobCloser.cs: PostgreSqlStorage.GetComponents, which a Hangfire server runs while "
            + "the storage has no ProcessesInsteadOfComponents feature (Hangfire.Core's BackgroundServerProcess)",
        "src/HangfireOverrides/BatchingPostgreSqlStorage.cs: the job, state and queue inserts (PostgreSqlConnection.CreateExpiredJob, "
            + "PostgreSqlWriteOnlyTransaction.SetJobState/AddToQueue, PostgreSqlJobQueue.Enqueue's NOTIFY and _queueEventRegistry), "
            + "the columns GetJobData and the monitoring API read",
        "src/HangfireOverrides/BatchingPostgreSqlStorage.OpenJobs.cs: what marks a job open (Enqueued with an expiry: the "
            + "library's PersistJob clears a job's expiry when it enqueues it, ExpireJob sets it on a final state), the queue "
            + "row and the NOTIFY as above, a string argument's serialization (InvocationData.SerializeArguments) and the "
            + "Queue field of the invocation data",
        "src/HangfireOverrides/BatchingPostgreSqlStorage.Connection.cs: the lock row and its name {schema}:job:{id}:state-lock "
            + "(PostgreSqlDistributedLock), EnableTransactionScopeEnlistment's default, GetJobData and its ParametersSnapshot "
            + "(Hangfire.Core; the jobparameter columns), CreateExpiredJob's parameters",
        "src/HangfireOverrides/NewJobListener.cs: PostgreSqlJobQueue.Dequeue waiting on _queueEventRegistry's event of each "
            + "of its queues between polls, and the new_job channel",
        "src/HangfireOverrides/OneTransactionStateChanger.cs: BackgroundJobStateChanger taking the job's lock through a supplied "
            + "transaction (Hangfire.Core), the write-only transaction's Commit and its queued writes",
        "src/HangfireOverrides/StateWriteSql.cs: PostgreSqlWriteOnlyTransaction's SetJobState, AddJobState, ExpireJob, PersistJob "
            + "and counter SQL",
    ];
}

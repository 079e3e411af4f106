namespace Cruddur.Shared.Jobs;

/// <summary>Stores jobs for the Worker. Each call returns once the job is committed to Postgres.</summary>
public interface IJobQueue
{
    /// <summary>Enqueues one contract for its function; returns the Hangfire job id.</summary>
    Task<string> EnqueueAsync<T>(T job, CancellationToken cancellationToken = default)
        where T : notnull;

    /// <summary>Enqueues one job carrying every item, for a function that takes a list; returns its job id.</summary>
    Task<string> EnqueueBatchAsync<T>(IReadOnlyCollection<T> jobs, CancellationToken cancellationToken = default)
        where T : notnull;

    /// <summary>
    /// <see cref="EnqueueBatchAsync"/> that blocks its thread until the commit: for a caller that owns a thread for it
    /// (the Api's group commit, which times its batches on a thread of its own).
    /// </summary>
    string EnqueueBatch<T>(IReadOnlyCollection<T> jobs)
        where T : notnull;

    /// <summary>
    /// Commits a batch job carrying <paramref name="jobs"/> that stays open: <see cref="AppendToBatch"/> adds items to it, and
    /// no Worker sees it until <see cref="CloseBatch"/> puts it on its queue. Closes <paramref name="closing"/> (the caller's
    /// previous open batch, or null) in the same commit. Returns the new job's id; blocks its thread until the commit.
    /// </summary>
    string OpenBatch<T>(IReadOnlyCollection<T> jobs, string? closing)
        where T : notnull;

    /// <summary>Adds <paramref name="jobs"/> to the open batch <paramref name="jobId"/>; false, and nothing added, if it is closed.</summary>
    bool AppendToBatch<T>(string jobId, IReadOnlyCollection<T> jobs)
        where T : notnull;

    /// <summary>Puts the open batch <paramref name="jobId"/> on its contract's queue; nothing if it is closed already.</summary>
    void CloseBatch<T>(string jobId)
        where T : notnull;
}

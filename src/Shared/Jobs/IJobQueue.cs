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
}

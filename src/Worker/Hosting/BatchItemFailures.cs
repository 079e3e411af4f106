using Cruddur.Shared.Jobs;
using Microsoft.Extensions.Logging;

namespace Cruddur.Worker.Hosting;

/// <summary>
/// Lambda's batchItemFailures for batch functions: the items of a batch that cannot succeed are split out,
/// each into a job of its own that then fails once with its reason, so the rest of the batch succeeds and each
/// failure is visible on its own. A batch of one fails at once instead (it would only split out into itself).
/// </summary>
public static class BatchItemFailures
{
    /// <summary>Splits out each failed item of <paramref name="batch"/>; call it after the rest is stored.</summary>
    /// <exception cref="PermanentFailureException">The batch is one item, and it failed.</exception>
    public static async Task SplitOutAsync<T>(
        IJobQueue jobs, FunctionContext context, IReadOnlyList<T> batch, IReadOnlyList<(T Item, Exception Reason)> failed)
        where T : notnull
    {
        if (failed.Count > 0 && batch.Count == 1)
        {
            throw new PermanentFailureException(failed[0].Reason.Message, failed[0].Reason);
        }
        foreach (var (item, reason) in failed)
        {
            var jobId = await jobs.EnqueueAsync(item, context.CancellationToken);
            context.Logger.LogWarning("Split out of the batch into job {JobId}: {Reason}", jobId, reason.Message);
        }
    }
}

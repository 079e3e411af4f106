using Cruddur.Shared.Activities;
using Cruddur.Shared.Jobs;
using Cruddur.Worker.Hosting;
using Microsoft.Extensions.Logging;

namespace Cruddur.Worker.Activities;

public sealed class ActivityFunctions(ActivityStore store, IJobQueue jobs)
{
    /// <summary>
    /// Stores a batch of accepted posts (a single-item job arrives as a batch of one) with one statement.
    /// Idempotent on each uuid. Like Lambda's batchItemFailures, a post whose user has vanished is split out
    /// of a batch into a job of its own, which then fails once with the reason; the rest of the batch succeeds.
    /// </summary>
    [Function(CreateActivityJob.Function)]
    public async Task CreateAsync([JobTrigger(CreateActivityJob.Queue)] IReadOnlyList<CreateActivityJob> activities, FunctionContext context)
    {
        var result = await store.CreateBatchAsync(activities, context.CancellationToken);
        if (result.Stored < activities.Count - result.UnknownHandles.Count)
        {
            context.Logger.LogInformation(
                "{Skipped} of {Count} activities were already stored; skipped", activities.Count - result.UnknownHandles.Count - result.Stored, activities.Count);
        }
        if (result.UnknownHandles.Count == 0)
        {
            return;
        }
        if (activities.Count == 1)
        {
            var unknown = new UnknownHandleException(activities[0].Handle);
            throw new PermanentFailureException(unknown.Message, unknown);
        }
        foreach (var failed in result.UnknownHandles)
        {
            // The single job fails on its own, visibly, with "No user has the handle ...".
            var jobId = await jobs.EnqueueAsync(failed, context.CancellationToken);
            context.Logger.LogWarning("Activity {Uuid} names no known user; split out of the batch into job {JobId}", failed.Uuid, jobId);
        }
    }
}

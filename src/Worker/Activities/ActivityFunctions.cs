using Cruddur.Shared.Activities;
using Cruddur.Shared.Jobs;
using Cruddur.Worker.Hosting;
using Microsoft.Extensions.Logging;

namespace Cruddur.Worker.Activities;

public sealed class ActivityFunctions(ActivityStore store, IJobQueue jobs)
{
    /// <summary>
    /// Stores a batch of accepted posts (a single-item job arrives as a batch of one) with one statement.
    /// Idempotent on each uuid. A post whose author is no longer in users is split out of the batch into a job of its own
    /// (<see cref="BatchItemFailures"/>), which then fails once with the reason; the rest of the batch succeeds.
    /// </summary>
    [Function(CreateActivityJob.Function)]
    public async Task CreateAsync([JobTrigger(CreateActivityJob.Queue)] IReadOnlyList<CreateActivityJob> activities, FunctionContext context)
    {
        var result = await store.CreateBatchAsync(activities, context.CancellationToken);
        if (result.Stored < activities.Count - result.UnknownAuthors.Count)
        {
            context.Logger.LogInformation(
                "{Skipped} of {Count} activities were already stored; skipped", activities.Count - result.UnknownAuthors.Count - result.Stored, activities.Count);
        }
        await BatchItemFailures.SplitOutAsync(
            jobs, context, activities, [.. result.UnknownAuthors.Select(a => (a, (Exception)new UnknownAuthorException(a)))]);
    }
}

using Cruddur.Shared.Activities;
using Cruddur.Worker.Hosting;
using Microsoft.Extensions.Logging;

namespace Cruddur.Worker.Activities;

public sealed class ActivityFunctions(ActivityStore store)
{
    /// <summary>Stores an accepted post. Idempotent on its uuid; an unknown handle fails the job once.</summary>
    [Function(CreateActivityJob.Function)]
    public async Task CreateAsync([JobTrigger(CreateActivityJob.Queue)] CreateActivityJob activity, FunctionContext context)
    {
        try
        {
            if (!await store.CreateAsync(activity, context.CancellationToken))
            {
                context.Logger.LogInformation("Activity {Uuid} was already stored; nothing to do", activity.Uuid);
            }
        }
        catch (UnknownHandleException e)
        {
            throw new PermanentFailureException(e.Message, e);
        }
    }
}

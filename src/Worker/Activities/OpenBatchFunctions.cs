using Cruddur.HangfireOverrides;
using Cruddur.Worker.Hosting;
using Microsoft.Extensions.Logging;

namespace Cruddur.Worker.Activities;

public sealed class OpenBatchFunctions(BatchingPostgreSqlStorage storage)
{
    /// <summary>
    /// An open job lives for the Api's batch interval (milliseconds), or while its Api waits out an outage; one this old was
    /// left by an Api that died. Closing one an Api still holds loses nothing: the Api's next append finds it closed and
    /// opens another job.
    /// </summary>
    public static readonly TimeSpan AbandonedAfter = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Puts on their queue the open batch jobs an Api left when it died (<c>ActivityBatcher</c>): their posts were answered
    /// 202 and are committed, but no Worker can fetch an open job. Every minute and when a Worker starts.
    /// </summary>
    [Function("close-abandoned-batches")]
    public async Task RunAsync([TimerTrigger("* * * * *", RunOnStartup = true)] TimerInfo timer, FunctionContext context)
    {
        var closed = await storage.CloseAbandonedOpenJobsAsync(AbandonedAfter, context.CancellationToken);
        if (closed > 0)
        {
            context.Logger.LogWarning("Queued {Count} open batch job(s) left by an Api that stopped before closing them", closed);
        }
    }
}

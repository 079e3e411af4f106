using Cruddur.Worker.Hosting;

namespace Cruddur.Worker.Activities;

public sealed class ActivityPurgeFunctions(ExpiredActivityPurger purger)
{
    /// <summary>The setting that holds the schedule; empty turns the purge off.</summary>
    public const string CronSetting = "ACTIVITY_PURGE_CRON";

    public const string DefaultCron = "*/10 * * * *";

    /// <summary>
    /// Deletes expired activities (the feed already hides them) on <c>ACTIVITY_PURGE_CRON</c>, once per tick
    /// across all Workers; a run cut short by its time budget leaves the rest to the next tick.
    /// </summary>
    [Function("purge-expired-activities")]
    public Task RunAsync([TimerTrigger("%" + CronSetting + "%")] TimerInfo timer, FunctionContext context) =>
        purger.PurgeAsync(context.CancellationToken);
}

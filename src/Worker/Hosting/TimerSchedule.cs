using Cruddur.Shared.Jobs;
using Cruddur.Shared.Resilience;
using Hangfire;
using Hangfire.Common;
using Hangfire.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Polly.Registry;

namespace Cruddur.Worker.Hosting;

/// <summary>
/// Registers every timer function as a Hangfire recurring job (its id is the function's name), so one run
/// happens per tick however many Workers there are; removes recurring jobs of functions that no longer
/// exist or are turned off (an empty schedule setting); triggers the <c>RunOnStartup</c> ones. A database restarting
/// meanwhile is waited out with the <see cref="Retries.DatabaseStartup"/> pipeline: every step may run again.
/// </summary>
internal sealed class TimerSchedule(
    FunctionCatalog catalog, IRecurringJobManager recurringJobs, JobStorage storage, ResiliencePipelineProvider<string> pipelines,
    ILogger<TimerSchedule> logger) : IHostedService
{
    private static readonly TimeSpan StartupRunWindow = TimeSpan.FromMinutes(1);

    public async Task StartAsync(CancellationToken cancellationToken) =>
        await pipelines.GetPipeline(Retries.DatabaseStartup).ExecuteAsync(_ => ValueTask.FromResult(Schedule()), cancellationToken);

    private bool Schedule()
    {
        var timers = catalog.Functions.Where(f => f.Trigger is TimerTriggerAttribute && f.Cron is not null).ToList();
        foreach (var off in catalog.Functions.Where(f => f.Trigger is TimerTriggerAttribute && f.Cron is null))
        {
            logger.LogInformation("Timer {Function} is off: its schedule setting is empty", off.Name);
        }
        foreach (var timer in timers)
        {
            var name = timer.Name;
            var job = Job.FromExpression<IFunctionDispatcher>(
                dispatcher => dispatcher.DispatchAsync(name, "{}", null, null, CancellationToken.None), timer.Queue);
            recurringJobs.AddOrUpdate(name, job, timer.Schedule!, new RecurringJobOptions { TimeZone = TimeZoneInfo.Utc });
            logger.LogInformation("Timer {Function} scheduled: '{Schedule}' (UTC), next at {Next:u}",
                name, timer.Schedule, timer.Cron!.GetNextOccurrence(DateTime.UtcNow));
        }

        using (var connection = storage.GetConnection())
        {
            var known = timers.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var stale in connection.GetRecurringJobs().Where(r => !known.Contains(r.Id) && IsOurs(r)))
            {
                recurringJobs.RemoveIfExists(stale.Id);
                logger.LogInformation("Timer {Function} removed: no such function in this Worker, or its schedule setting is empty", stale.Id);
            }
        }

        foreach (var timer in timers.Where(t => ((TimerTriggerAttribute)t.Trigger).RunOnStartup))
        {
            TriggerUnlessJustRun(timer.Name);
        }
        return true;
    }

    /// <summary>
    /// Runs the timer now, unless it ran within <see cref="StartupRunWindow"/>: Workers started together (a deploy,
    /// a scale-out) run a RunOnStartup timer once between them, not once each. The lock makes check and trigger one step.
    /// </summary>
    private void TriggerUnlessJustRun(string name)
    {
        using var connection = storage.GetConnection();
        using (connection.AcquireDistributedLock($"timer:{name}:startup", TimeSpan.FromSeconds(30)))
        {
            var last = connection.GetRecurringJobs([name]).SingleOrDefault()?.LastExecution;
            if (last is { } ran && DateTime.UtcNow - ran < StartupRunWindow)
            {
                logger.LogInformation("Timer {Function} ran at {Last:u}, {Seconds:0} s ago: not run again at startup", name, ran, (DateTime.UtcNow - ran).TotalSeconds);
                return;
            }
            recurringJobs.Trigger(name);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    // Only our dispatcher's jobs: a recurring job someone added by other means is not ours to remove.
    private static bool IsOurs(RecurringJobDto job) => job.Job?.Type == typeof(IFunctionDispatcher);
}

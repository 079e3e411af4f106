using System.Diagnostics;
using Cruddur.Shared.Data;
using Cruddur.Shared.Observability;
using Cruddur.Shared.Resilience;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Registry;

namespace Cruddur.Worker.Activities;

/// <summary>How much one purge run deletes at a time, and for how long it may go on.</summary>
public sealed record ActivityPurgeLimits
{
    /// <summary>Rows per DELETE: each batch is one short transaction (about 0.1 s at 5,000 rows).</summary>
    public int BatchSize { get; init; } = 5_000;

    /// <summary>
    /// A run stops after this even if expired rows are left; the next tick goes on. Well under Hangfire's
    /// invisibility timeout (HANGFIRE_INVISIBILITY_TIMEOUT_SECONDS, 120 s), after which another Worker may fetch the same run.
    /// </summary>
    public TimeSpan TimeBudget { get; init; } = TimeSpan.FromMinutes(1);
}

/// <summary>What one purge run did.</summary>
/// <param name="Deleted">Expired activities deleted.</param>
/// <param name="Batches">DELETE statements run (the last one finds fewer than a batch, often none).</param>
/// <param name="Duration">How long the run took.</param>
/// <param name="Finished">False when the time budget ran out with expired activities possibly left.</param>
/// <param name="KeysForgotten">Idempotency-Key records deleted after the activities (none unless those finished).</param>
public sealed record ActivityPurgeResult(long Deleted, int Batches, TimeSpan Duration, bool Finished, long KeysForgotten = 0);

/// <summary>
/// Deletes expired activities in bounded batches (<c>purge_expired.sql</c>) until none are left or the budget is spent;
/// then, in what is left of the budget, the Idempotency-Key records that can no longer matter
/// (<c>idempotency/purge_forgotten.sql</c>), which rely on the activities' purge having finished.
/// </summary>
public sealed partial class ExpiredActivityPurger(
    Db db, ResiliencePipelineProvider<string> pipelines, ActivityPurgeLimits limits, ILogger<ExpiredActivityPurger> logger)
{
    private readonly ResiliencePipeline _writes = pipelines.GetPipeline(Retries.DatabaseWrite);

    public async Task<ActivityPurgeResult> PurgeAsync(CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var (deleted, batches, finished) = await DeleteInBatchesAsync(
            db.Template("activities", "purge_expired"), clock, CruddurTelemetry.ActivitiesPurged.Add, cancellationToken);
        var forgotten = finished
            ? (await DeleteInBatchesAsync(db.Template("idempotency", "purge_forgotten"), clock, _ => { }, cancellationToken)).Deleted
            : 0;
        var result = new ActivityPurgeResult(deleted, batches, clock.Elapsed, finished, forgotten);
        if (finished)
        {
            LogPurged(deleted, batches, result.Duration.TotalMilliseconds, forgotten);
        }
        else
        {
            LogBudgetSpent(deleted, batches, result.Duration.TotalMilliseconds);
        }
        return result;
    }

    // Runs sql, a DELETE of at most @batch_size rows that returns its count, until a batch is short (finished) or the run's
    // budget is spent.
    private async Task<(long Deleted, int Batches, bool Finished)> DeleteInBatchesAsync(
        SqlTemplate sql, Stopwatch clock, Action<long> batchDeleted, CancellationToken cancellationToken)
    {
        var parameters = new SqlParameters { ["batch_size"] = limits.BatchSize };
        long deleted = 0;
        var batches = 0;
        while (clock.Elapsed < limits.TimeBudget)
        {
            var count = await _writes.ExecuteAsync(async token => await db.QueryCommitAsync<long>(sql, parameters, token), cancellationToken);
            batches++;
            deleted += count;
            batchDeleted(count);
            if (count < limits.BatchSize)
            {
                return (deleted, batches, true);
            }
        }
        return (deleted, batches, false);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Purged {Deleted} expired activities in {Batches} batches and forgot {KeysForgotten} Idempotency-Key records, {DurationMs:0} ms")]
    private partial void LogPurged(long deleted, int batches, double durationMs, long keysForgotten);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Purged {Deleted} expired activities in {Batches} batches, {DurationMs:0} ms: the time budget is spent and more may be left for the next run")]
    private partial void LogBudgetSpent(long deleted, int batches, double durationMs);
}

public static class ActivityPurgeExtensions
{
    /// <summary>The purge's services; its schedule is the <c>ACTIVITY_PURGE_CRON</c> setting.</summary>
    public static IServiceCollection AddActivityPurge(this IServiceCollection services, ActivityPurgeLimits? limits = null)
    {
        services.AddSingleton(limits ?? new ActivityPurgeLimits());
        services.AddSingleton<ExpiredActivityPurger>();
        return services;
    }
}

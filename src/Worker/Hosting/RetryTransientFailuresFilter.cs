using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Hangfire.Storage;

namespace Cruddur.Worker.Hosting;

/// <summary>
/// Hangfire's automatic retry, except for <see cref="PermanentFailureException"/>: such a job goes to Failed
/// at once, its reason visible in the dashboard, instead of being retried ten times for nothing.
/// Replaces the default global <see cref="AutomaticRetryAttribute"/>.
/// </summary>
internal sealed class RetryTransientFailuresFilter : JobFilterAttribute, IElectStateFilter, IApplyStateFilter
{
    private readonly AutomaticRetryAttribute _retry;

    public RetryTransientFailuresFilter(int attempts)
    {
        _retry = new AutomaticRetryAttribute { Attempts = attempts };
        Order = _retry.Order;
    }

    /// <summary>Installs the filter in place of Hangfire's default retry (idempotent: the filters are global).</summary>
    public static void Install(int attempts)
    {
        lock (GlobalJobFilters.Filters)
        {
            foreach (var filter in GlobalJobFilters.Filters.Where(f => f.Instance is AutomaticRetryAttribute or RetryTransientFailuresFilter).ToList())
            {
                GlobalJobFilters.Filters.Remove(filter.Instance);
            }
            GlobalJobFilters.Filters.Add(new RetryTransientFailuresFilter(attempts));
        }
    }

    public void OnStateElection(ElectStateContext context)
    {
        if (context.CandidateState is FailedState { Exception: PermanentFailureException permanent } failed)
        {
            failed.Reason = permanent.Message;
            return;
        }
        _retry.OnStateElection(context);
    }

    public void OnStateApplied(ApplyStateContext context, IWriteOnlyTransaction transaction) => _retry.OnStateApplied(context, transaction);

    public void OnStateUnapplied(ApplyStateContext context, IWriteOnlyTransaction transaction) => _retry.OnStateUnapplied(context, transaction);
}

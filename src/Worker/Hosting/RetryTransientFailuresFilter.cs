using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Hangfire.Storage;

namespace Cruddur.Worker.Hosting;

/// <summary>
/// Hangfire's automatic retry, except for <see cref="PermanentFailureException"/>: such a job goes to Failed
/// at once, its reason visible in the dashboard, instead of being retried ten times for nothing.
/// Replaces the default global <see cref="AutomaticRetryAttribute"/> (the host installs it with <c>HangfireGlobals.Configure</c>).
/// </summary>
internal sealed class RetryTransientFailuresFilter : JobFilterAttribute, IElectStateFilter, IApplyStateFilter
{
    private readonly AutomaticRetryAttribute _retry;

    public RetryTransientFailuresFilter(int attempts)
    {
        _retry = new AutomaticRetryAttribute { Attempts = attempts };
        Order = _retry.Order;
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

using Cruddur.Shared.Configuration;
using Hangfire;
using Hangfire.Common;
using Microsoft.Extensions.Configuration;

namespace Cruddur.Shared.Jobs;

/// <summary>
/// Hangfire's process-wide settings, which it keeps in statics: the log provider and the global job filters.
/// They are set here and nowhere else, by each process's registration, once (the Api's <c>AddCruddurApi</c>, the
/// Worker's function host). Setting them again changes nothing, so tests may host several processes in one.
/// Only the log provider is set a second time, by <see cref="UseLogProvider"/>: see there.
/// </summary>
public static class HangfireGlobals
{
    /// <summary>
    /// Sends Hangfire's log lines to the host's logging, removes the default filters Cruddur does not use
    /// (culture capture; history and continuations too with <c>HANGFIRE_LEAN_FILTERS=true</c>) and, when
    /// <paramref name="retry"/> is given, puts the filter it makes in place of Hangfire's default <see cref="AutomaticRetryAttribute"/> (made after the log provider is set:
    /// Hangfire's retry filter takes its logger when it is constructed).
    /// </summary>
    public static void Configure(IConfiguration configuration, Func<JobFilterAttribute>? retry = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        UseLogProvider(GlobalConfiguration.Configuration);
        RemoveDefaultFilters(lean: Settings.Read<JobStorageOptions>(configuration).DropHistoryAndContinuations);
        if (retry is not null)
        {
            var replacement = retry();
            lock (GlobalJobFilters.Filters)
            {
                foreach (var filter in GlobalJobFilters.Filters.Where(f => f.Instance is AutomaticRetryAttribute || f.Instance.GetType() == replacement.GetType()).ToList())
                {
                    GlobalJobFilters.Filters.Remove(filter.Instance);
                }
                GlobalJobFilters.Filters.Add(replacement);
            }
        }
    }

    /// <summary>
    /// Removes Hangfire's culture-capture filter, which Cruddur never needs (two job parameters per enqueue; the
    /// payloads are culture-invariant JSON). With <paramref name="lean"/> (<c>HANGFIRE_LEAN_FILTERS=true</c>) it also
    /// removes statistics history (two counter rows per finished job, read only by the dashboard's history graphs) and
    /// continuations (a parameter read per state change; no Cruddur job has continuations), which the dashboard and
    /// an operator's <c>ContinueJobWith</c> expect: kept by default, as their cost per activity is small at today's
    /// batch sizes (docs/lab/post-path.md, "Hangfire's default filters"). Process-wide: Hangfire keeps its filters in a
    /// static collection.
    /// </summary>
    private static void RemoveDefaultFilters(bool lean)
    {
        lock (GlobalJobFilters.Filters)
        {
            foreach (var filter in GlobalJobFilters.Filters
                .Where(f => f.Instance is CaptureCultureAttribute || (lean && f.Instance is StatisticsHistoryAttribute or ContinuationsSupportAttribute)).ToList())
            {
                GlobalJobFilters.Filters.Remove(filter.Instance);
            }
        }
    }

    /// <summary>
    /// Makes <see cref="HangfireLogProvider"/> Hangfire's log provider. <c>AddHangfire</c>'s configuration callback
    /// calls it again: Hangfire.NetCore sets a provider bound to the host's logger factory just before that callback,
    /// and that provider throws once its host has stopped (tests run several hosts in one process); ours does not.
    /// </summary>
    internal static IGlobalConfiguration UseLogProvider(IGlobalConfiguration hangfire) => hangfire.UseLogProvider(new HangfireLogProvider());
}

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
    /// (unless <c>HANGFIRE_LEAN_FILTERS=false</c>) and, when <paramref name="retry"/> is given, puts the filter it
    /// makes in place of Hangfire's default <see cref="AutomaticRetryAttribute"/> (made after the log provider is set:
    /// Hangfire's retry filter takes its logger when it is constructed).
    /// </summary>
    public static void Configure(IConfiguration configuration, Func<JobFilterAttribute>? retry = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        UseLogProvider(GlobalConfiguration.Configuration);
        // Measured by bin/bench: 63 -> 43 statements per batch job (docs/benchmarks.md). HANGFIRE_LEAN_FILTERS=false restores them.
        if (configuration.GetValue("HANGFIRE_LEAN_FILTERS", true))
        {
            RemoveUnusedDefaultFilters();
        }
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
    /// Removes Hangfire's default global filters that Cruddur does not use and that cost statements on every
    /// job: culture capture (two job parameters per enqueue; payloads are culture-invariant JSON), daily and
    /// hourly statistics history (two counter rows per finished job; only the dashboard's graphs read them) and
    /// continuations (a parameter read per state change; no job has continuations). Retries stay, and so do the
    /// dashboard's job lists, counts and failure reasons; only its history graphs stay empty.
    /// Process-wide: Hangfire keeps these filters in a static collection.
    /// </summary>
    private static void RemoveUnusedDefaultFilters()
    {
        lock (GlobalJobFilters.Filters)
        {
            foreach (var filter in GlobalJobFilters.Filters
                .Where(f => f.Instance is CaptureCultureAttribute or StatisticsHistoryAttribute or ContinuationsSupportAttribute).ToList())
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

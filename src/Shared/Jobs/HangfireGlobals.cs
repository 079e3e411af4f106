using Hangfire;
using Hangfire.Common;
using Microsoft.Extensions.Configuration;

namespace Cruddur.Shared.Jobs;

/// <summary>
/// Hangfire's process-wide settings, which it keeps in statics: the log provider and the global job filters.
/// They are set here and nowhere else, by each process's registration, once (the Api's <c>AddCruddurApi</c>, the
/// Worker's function host). Setting them again changes nothing, so tests may host several processes in one.
/// </summary>
public static class HangfireGlobals
{
    /// <summary>
    /// Sends Hangfire's log lines to the host's logging, removes the default filters Cruddur does not use
    /// (unless <c>HANGFIRE_LEAN_FILTERS=false</c>) and, when <paramref name="retry"/> is given, puts it in place of
    /// Hangfire's default <see cref="AutomaticRetryAttribute"/>.
    /// </summary>
    public static void Configure(IConfiguration configuration, JobFilterAttribute? retry = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        GlobalConfiguration.Configuration.UseLogProvider(new HangfireLogProvider());
        // Measured by bin/bench: 63 -> 43 statements per batch job (docs/benchmarks.md). HANGFIRE_LEAN_FILTERS=false restores them.
        if (configuration.GetValue("HANGFIRE_LEAN_FILTERS", true))
        {
            JobStorageServiceCollectionExtensions.RemoveUnusedDefaultFilters();
        }
        if (retry is not null)
        {
            lock (GlobalJobFilters.Filters)
            {
                foreach (var filter in GlobalJobFilters.Filters.Where(f => f.Instance is AutomaticRetryAttribute || f.Instance.GetType() == retry.GetType()).ToList())
                {
                    GlobalJobFilters.Filters.Remove(filter.Instance);
                }
                GlobalJobFilters.Filters.Add(retry);
            }
        }
    }
}

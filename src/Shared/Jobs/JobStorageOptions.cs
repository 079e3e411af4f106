using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace Cruddur.Shared.Jobs;

/// <summary>Hangfire's storage settings, the same in the Api and the Worker; measured rather than guessed (docs/benchmarks.md).</summary>
public sealed class JobStorageOptions
{
    /// <summary>
    /// How often an idle Worker looks for jobs that nothing woke it for: a job the Api commits wakes it at once (its
    /// NOTIFY, <c>NewJobListener</c>), so this bounds only what no notification announced (a job committed while the
    /// listener reconnected finds a fetcher woken by the reconnect; one the dashboard requeued waits for this). 2 s, not
    /// 250 ms: idle, the Worker's statements fell from 9.7 to 2.7 a second (docs/performance.md, "A post wakes the Worker").
    /// At least 50 ms, the least Hangfire.PostgreSql accepts: below it the library threw at startup, without naming this setting.
    /// </summary>
    [ConfigurationKeyName("HANGFIRE_QUEUE_POLL_MS"), Display(Name = "HANGFIRE_QUEUE_POLL_MS"), Range(50, 60_000)]
    public int QueuePollMilliseconds { get; set; } = 2000;

    /// <summary>A running job keeps its claim by heartbeat; a crashed worker's jobs come back after this.</summary>
    [ConfigurationKeyName("HANGFIRE_INVISIBILITY_TIMEOUT_SECONDS"), Display(Name = "HANGFIRE_INVISIBILITY_TIMEOUT_SECONDS"), Range(1, 86_400)]
    public int InvisibilityTimeoutSeconds { get; set; } = 120;

    /// <summary>
    /// A lock row whose release failed (a killed process, or a database restart mid-state-change) blocks the next taker
    /// until it is this old: at 60 s, each job caught in a restart held a Worker thread for up to a minute (chaos
    /// scenario c). Hangfire holds these locks for milliseconds (state changes, schedulers).
    /// </summary>
    [ConfigurationKeyName("HANGFIRE_LOCK_TIMEOUT_SECONDS"), Display(Name = "HANGFIRE_LOCK_TIMEOUT_SECONDS"), Range(1, 3600)]
    public int LockTimeoutSeconds { get; set; } = 5;

    /// <summary>
    /// How long a succeeded job's rows (job, states, parameters) are kept, a duration such as <c>01:00:00</c>. One hour,
    /// not Hangfire's day: at a steady 1,000 posts/s the group commit makes about 172 jobs a second of 6 posts, up to
    /// 3,765 bytes each on disk (measured at 8 posts), so a day's retention holds 15 million jobs, up to 56 GB, and an
    /// hour's 2.3 GB (docs/reliability.md, "Job retention"). The activity itself is in <c>activities</c>; an hour leaves time to look a job up by its 202's id.
    /// </summary>
    [ConfigurationKeyName(JobStorageServiceCollectionExtensions.JobRetentionKey), Display(Name = JobStorageServiceCollectionExtensions.JobRetentionKey)]
    [Range(typeof(TimeSpan), "00:00:01", "3650.00:00:00", ErrorMessage = "{0} must be a duration of at least a second, such as 01:00:00 (an hour) or 1.00:00:00 (a day).")]
    public TimeSpan JobRetention { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Drops Hangfire's statistics-history and continuation filters (about 3 statements per job; the dashboard's
    /// history graphs stay empty): off by default (docs/lab/post-path.md, "Hangfire's default filters").</summary>
    [ConfigurationKeyName("HANGFIRE_LEAN_FILTERS")]
    public bool DropHistoryAndContinuations { get; set; }
}

using System.Globalization;
using System.Text;

namespace Cruddur.Soak;

/// <summary>The issue's pass table (plus the partitions' recovery), judged from the samples and the counts.</summary>
internal sealed class Verdict(Settings settings, IReadOnlyList<Sample> samples, IReadOnlyList<FaultResult> faults, Load load,
    IReadOnlyList<(TimeSpan At, string Label)> events)
{
    public bool Passed { get; private set; } = true;

    /// <summary>The sample RSS is compared against: at 5 minutes, or at a quarter of a shorter run (after JIT and pools).</summary>
    private Sample RssReference => samples.First(s => s.Seconds >= Math.Min(300, settings.Duration.TotalSeconds / 4));

    public string Table(int accepted, int lost, int twice, int unacknowledged, int signUps, int usersLost, TimeSpan drained)
    {
        var rows = new StringBuilder("| figure | value | bound | result |\n| --- | --- | --- | --- |\n");
        void Row(string figure, string value, string bound, bool pass)
        {
            rows.Append(CultureInfo.InvariantCulture, $"| {figure} | {value} | {bound} | {(pass ? "pass" : "FAIL")} |\n");
            Passed &= pass;
        }
        var last = samples[^1];

        Row("acknowledged posts lost or stored twice (counted in `activities` by each post's unique message)",
            I($"{lost} lost, {twice} stored twice, of {accepted:N0} answered 202 ({unacknowledged} stored without a 202); sign-ups: {usersLost} of {signUps} sent missing from `users`; drained {drained.TotalSeconds:F0} s after the load"),
            "0", lost == 0 && twice == 0 && usersLost == 0);

        var reference = RssReference;
        var restart = events.FirstOrDefault(e => e.Label.Contains("restarted", StringComparison.Ordinal)).At.TotalSeconds;
        var rssPass = true;
        var rss = new List<string>();
        foreach (var name in new[] { "api", "worker-1" })
        {
            var growth = last.Rss[name] / reference.Rss[name] - 1;
            rssPass &= growth <= 0.15;
            rss.Add(I($"{name} {reference.Rss[name]:F0} → {last.Rss[name]:F0} MB ({growth:+0%;-0%})"));
        }
        rss.Add(I($"worker-2 (killed and restarted at {restart:F0} s) {last.Rss["worker-2"]:F0} MB at the end"));
        Row(I($"Api and Worker RSS, last sample vs the sample at {reference.Seconds:F0} s"), string.Join("; ", rss), "≤ +15%", rssPass);

        var connections = faults.Select(f => f.ConnectionsBackSeconds is { } back
            ? I($"{f.Name}: at most {f.ConnectionsBefore} in the window before; connected again after {back:F1} s; at most {f.ConnectionsMostAfter}, {f.ConnectionsAtEnd} at 60 s")
                + (f.IsPartition ? "" : I($" (a new process; the killed one's left: {f.KilledProcessConnectionsAtEnd})"))
            : I($"{f.Name}: at most {f.ConnectionsBefore} in the window before; none within 60 s"));
        Row("PostgreSQL connections of the faulted process in the 60 s after each fault heals (connected again; after a partition at most the most in the 60 s before the fault + max(2, a fifth); after a restart none of the killed process's left: no leak)",
            string.Join("; ", connections), "back within 60 s", faults.All(f => f.ConnectionsBack));

        // Job rate over the last retention period of the load, from hangfire.job's ids.
        var retention = settings.Retention.TotalSeconds;
        var earlier = samples.LastOrDefault(s => s.Seconds <= last.Seconds - retention);
        if (earlier is null)
        {
            Row("Hangfire job rows at the end", I($"{last.JobRows:N0}; the run is shorter than the retention ({retention:F0} s), so the bound cannot be judged"),
                "≤ 1.2 × (job rate × retention) + queue depth", false);
        }
        else
        {
            var jobRate = (last.MaxJobId - earlier.MaxJobId) / (last.Seconds - earlier.Seconds);
            var bound = 1.2 * jobRate * retention + last.QueueDepth;
            Row("Hangfire job rows at the end (`hangfire.job`, all states)",
                I($"{last.JobRows:N0} ({jobRate:F1} jobs/s × {retention:F0} s = {jobRate * retention:N0}; queue depth {last.QueueDepth}; state rows {last.StateRows:N0}, parameter rows {last.ParameterRows:N0})"),
                I($"≤ 1.2 × (job rate × retention) + queue depth = {bound:N0}"), last.JobRows <= bound);
        }

        // The first steady window: 90-120 s, once the cold start's backlog has drained, when the first fault comes later
        // (runs of 6 minutes or more); a shorter run's 30-60 s window may still hold the warm-up.
        var steadyEnd = settings.Duration.TotalSeconds / 3 > 120 ? 120 : 60;
        var first = samples.FirstOrDefault(s => s.Seconds >= steadyEnd) ?? samples[0];
        Row(I($"POST p99 in the last window ({last.Seconds - 30:F0}–{last.Seconds:F0} s) vs the first steady window ({first.Seconds - 30:F0}–{first.Seconds:F0} s)"),
            I($"{last.PostP99:F1} ms vs {first.PostP99:F1} ms ({last.PostP99 / Math.Max(first.PostP99, 0.001):F2}×)"), "≤ 1.5×",
            last.PostP99 <= 1.5 * first.PostP99);

        var errors = Sum(load.Windows.Select(w => w.Errors));
        var expected = Sum(load.Windows.Select(w => w.Expected));
        Row("errors other than the 503s during the Api's partition (timeouts and broken connections count as errors)",
            errors.Count == 0 ? I($"0 ({Describe(expected)})") : I($"{Describe(errors)} (and {Describe(expected)})"),
            "0", errors.Count == 0);

        var recoveries = faults.Where(f => f.IsPartition).Select(f => f.RecoverySeconds is { } s ? I($"{f.Name} {s:F1} s") : $"{f.Name} not within 60 s");
        var restarted = faults.FirstOrDefault(f => !f.IsPartition);
        Row("work resumed after each partition healed (Api: first 202 to a post sent after the heal; Worker: its first job taken)",
            string.Join("; ", recoveries) + (restarted is null ? "" : I($" (reference: worker-2 took its first job {restarted.RecoverySeconds:F1} s after its restart)")),
            "≤ 5 s", faults.Where(f => f.IsPartition).All(f => f.RecoverySeconds <= 5));
        // Evidence beside the p99 row, not a bound: whether the disk itself stalled in the two windows it compares.
        static string Sync(Sample s) => s.DiskSyncMaxMs is { } max ? I($"{max:F1} ms (p99 {s.DiskSyncP99Ms:F1} ms)") : "no figure";
        return rows.ToString().TrimEnd() + "\n\n"
            + I($"Disk probe (8 KiB written and fdatasync'd every 100 ms beside the cluster, apart from our processes): the longest write+sync was {Sync(last)} in the last window and {Sync(first)} in the first steady window.");
    }

    private static Dictionary<string, int> Sum(IEnumerable<IReadOnlyDictionary<string, int>> kinds) => kinds
        .SelectMany(k => k).GroupBy(k => k.Key).ToDictionary(g => g.Key, g => g.Sum(k => k.Value), StringComparer.Ordinal);

    private static string Describe(Dictionary<string, int> kinds) =>
        kinds.Count == 0 ? "no 503s" : string.Join(", ", kinds.OrderBy(k => k.Key).Select(k => I($"{k.Value} {k.Key}")));

    private static string I(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

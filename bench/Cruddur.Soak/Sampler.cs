using System.Globalization;
using Npgsql;

namespace Cruddur.Soak;

/// <summary>One 30 s sample: the processes, PostgreSQL's connections and tables, and the window's latencies and errors.</summary>
internal sealed record Sample(
    double Seconds, Dictionary<string, double> Rss, Dictionary<string, double?> GcHeap, Dictionary<string, int> Threads,
    Dictionary<string, int> Connections, long JobRows, long StateRows, long ParameterRows, long QueueDepth, long MaxJobId,
    double HangfireMb, long ActivityRows, double ActivitiesMb, long HangfireDeadTuples, long ActivitiesDeadTuples,
    int Posts, double PostP50, double PostP99, int Feeds, double FeedP50, double FeedP99,
    IReadOnlyDictionary<string, int> Errors, IReadOnlyDictionary<string, int> Expected, CpuUse Cpu, double DriverLoopGapMs, int Slow,
    double? DiskSyncP99Ms, double? DiskSyncMaxMs);

internal sealed class Sampler(NpgsqlDataSource db, DiskProbe disk)
{
    public static readonly string Header =
        "seconds,api_rss_mb,worker1_rss_mb,worker2_rss_mb,api_gc_heap_mb,worker1_gc_heap_mb,worker2_gc_heap_mb,"
        + "api_threads,worker1_threads,worker2_threads,api_connections,worker1_connections,worker2_connections,other_connections,"
        + "hangfire_job_rows,hangfire_state_rows,hangfire_jobparameter_rows,queue_depth,hangfire_mb,hangfire_dead_tuples,"
        + "activities_rows,activities_mb,activities_dead_tuples,posts,post_p50_ms,post_p99_ms,feeds,feed_p50_ms,feed_p99_ms,errors,expected_503s,"
        + "machine_busy_pct,machine_iowait_pct,api_cpu_pct,worker1_cpu_pct,worker2_cpu_pct,postgres_cpu_pct,driver_cpu_pct,driver_gc_pause_ms,"
        + "driver_max_loop_gap_ms,slow_requests,disk_sync_p99_ms,disk_sync_max_ms";

    private readonly CpuMeter _cpu = new();

    public async Task<Sample> TakeAsync(double seconds, IReadOnlyList<AppProcess> apps, Window window)
    {
        var syncs = disk.Take();
        Array.Sort(syncs);
        var rss = new Dictionary<string, double>();
        var gc = new Dictionary<string, double?>();
        var threads = new Dictionary<string, int>();
        foreach (var app in apps)
        {
            (rss[app.Name], threads[app.Name]) = ReadProc(app.Pid);
            gc[app.Name] = app.GcHeapMb();
        }
        var connections = new Dictionary<string, int>();
        await using (var command = db.CreateCommand(
            "SELECT regexp_replace(application_name, ' \\((reads|async commit)\\)$', ''), count(*)::int FROM pg_stat_activity "
            + "WHERE datname = 'cruddur' AND pid <> pg_backend_pid() GROUP BY 1"))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                var app = apps.FirstOrDefault(a => a.ApplicationName == reader.GetString(0))?.Name ?? "other";
                connections[app] = connections.GetValueOrDefault(app) + reader.GetInt32(1);
            }
        }
        // Exact counts for the rows the bound is about; pg_stat's estimates for the rest (activities grows to millions).
        long jobRows, stateRows, parameterRows, queueDepth, maxJobId;
        await using (var command = db.CreateCommand(
            "SELECT (SELECT count(*) FROM hangfire.job), (SELECT count(*) FROM hangfire.state), (SELECT count(*) FROM hangfire.jobparameter), "
            + "(SELECT count(*) FROM hangfire.jobqueue WHERE fetchedat IS NULL), (SELECT COALESCE(max(id), 0) FROM hangfire.job)"))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            await reader.ReadAsync();
            (jobRows, stateRows, parameterRows, queueDepth, maxJobId) =
                (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4));
        }
        double hangfireBytes = 0, activitiesBytes = 0;
        long hangfireDead = 0, activitiesDead = 0, activityRows = 0;
        await using (var command = db.CreateCommand(
            "SELECT schemaname, relname, n_live_tup, n_dead_tup, pg_total_relation_size(relid) FROM pg_stat_user_tables "
            + "WHERE schemaname = 'hangfire' OR (schemaname = 'public' AND relname = 'activities')"))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                if (reader.GetString(0) == "hangfire")
                {
                    hangfireDead += reader.GetInt64(3);
                    hangfireBytes += reader.GetInt64(4);
                }
                else
                {
                    (activityRows, activitiesDead, activitiesBytes) = (reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4));
                }
            }
        }
        var posts = window.PostMs.ToArray();
        var feeds = window.FeedMs.ToArray();
        Array.Sort(posts);
        Array.Sort(feeds);
        return new Sample(seconds, rss, gc, threads, connections, jobRows, stateRows, parameterRows, queueDepth, maxJobId,
            hangfireBytes / 1048576, activityRows, activitiesBytes / 1048576, hangfireDead, activitiesDead,
            posts.Length, Percentile(posts, 0.50), Percentile(posts, 0.99), feeds.Length, Percentile(feeds, 0.50), Percentile(feeds, 0.99),
            new Dictionary<string, int>(window.Errors), new Dictionary<string, int>(window.Expected), _cpu.Take(apps),
            window.MaxLoopGapMs, window.Slow.Count,
            syncs.Length == 0 ? null : Percentile(syncs, 0.99), syncs.Length == 0 ? null : syncs[^1]);
    }

    /// <summary>Resident memory (MB) and threads of a process, from /proc (0 while it is not running).</summary>
    private static (double RssMb, int Threads) ReadProc(int pid)
    {
        try
        {
            double rss = 0;
            var threads = 0;
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    rss = double.Parse(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
                }
                else if (line.StartsWith("Threads:", StringComparison.Ordinal))
                {
                    threads = int.Parse(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
                }
            }
            return (rss, threads);
        }
        catch (IOException)
        {
            return (0, 0);
        }
    }

    public static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    public static string ToCsv(Sample s)
    {
        static string F(double? v) => v is { } x ? x.ToString("0.##", CultureInfo.InvariantCulture) : "";
        static string Kinds(IReadOnlyDictionary<string, int> kinds) => string.Join(';', kinds.OrderBy(k => k.Key).Select(k => $"{k.Key}={k.Value}"));
        string[] names = ["api", "worker-1", "worker-2"];
        return string.Join(',', new[] { F(s.Seconds) }
            .Concat(names.Select(n => F(s.Rss.GetValueOrDefault(n))))
            .Concat(names.Select(n => F(s.GcHeap.GetValueOrDefault(n))))
            .Concat(names.Select(n => F(s.Threads.GetValueOrDefault(n))))
            .Concat(names.Append("other").Select(n => F(s.Connections.GetValueOrDefault(n))))
            .Concat([F(s.JobRows), F(s.StateRows), F(s.ParameterRows), F(s.QueueDepth), F(s.HangfireMb), F(s.HangfireDeadTuples),
                F(s.ActivityRows), F(s.ActivitiesMb), F(s.ActivitiesDeadTuples), F(s.Posts), F(s.PostP50), F(s.PostP99),
                F(s.Feeds), F(s.FeedP50), F(s.FeedP99), $"\"{Kinds(s.Errors)}\"", $"\"{Kinds(s.Expected)}\"",
                F(s.Cpu.MachineBusyPct), F(s.Cpu.MachineIowaitPct)])
            .Concat(names.Select(n => F(s.Cpu.ProcessPct.GetValueOrDefault(n))))
            .Concat([F(s.Cpu.PostgresPct), F(s.Cpu.DriverPct), F(s.Cpu.DriverGcPauseMs), F(s.DriverLoopGapMs), F(s.Slow),
                F(s.DiskSyncP99Ms), F(s.DiskSyncMaxMs)]));
    }
}

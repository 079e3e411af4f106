using System.Diagnostics;
using Cruddur.Tests.Fixtures;

namespace Cruddur.Tests.Chaos;

/// <summary>
/// (i) A full disk: the cluster's WAL on a filesystem of its own (a tmpfs), filled under the signed-in POST load with
/// sign-ups on the queue. PostgreSQL PANICs when it cannot make a WAL segment, and stops when its recovery cannot write
/// either; the space is then freed and PostgreSQL started again, as an operator would. Nobody restarts the Api or the
/// Worker; nothing acknowledged may be lost, and nothing uncommitted acknowledged.
/// </summary>
[Trait("Category", "Chaos")]
[Collection(ChaosSettings.Serial)]
public sealed class FullDiskTests(MotoServer moto)
{
    private const int WalVolumeMegabytes = 256;

    /// <summary>What the ballast leaves free: three of the cluster's 1 MB WAL segments, for the load itself to fill (about 7 KB of WAL a post).</summary>
    private const long LeftForTheLoad = 3L << 20;

    /// <summary>How long the disk stays full once PostgreSQL has met it: long enough that posts and probes meet it too.</summary>
    private static readonly TimeSpan Full = TimeSpan.FromSeconds(10);

    /// <summary>
    /// From PostgreSQL accepting connections again to the first post stored: the Worker's outage wait retries every second
    /// at most (as after a restart, bound 5 s in <see cref="PostgresRestartTests"/>), doubled for a machine shared with other runs.
    /// </summary>
    private static readonly TimeSpan ResumeBound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_full_WAL_volume_gets_503s_health_names_it_and_after_space_is_freed_everything_acknowledged_is_stored_once()
    {
        Assert.SkipUnless(Environment.UserName == "root", "the WAL's own filesystem is a tmpfs this test mounts, which needs root (mount -t tmpfs)");
        await using var wal = await Tmpfs.MountAsync(WalVolumeMegabytes);
        // 1 MB segments (the default is 16): the volume fills within a megabyte of the ballast's end, not sixteen.
        var (stack, _) = await EndpointStack.StartAsync(moto, initdbOptions: [$"--waldir={Path.Combine(wal.Path, "pg_wal")}", "--wal-segsize=1"]);
        await using var _ = stack;
        try
        {
            await FillAndFreeAsync(stack, wal);
        }
        finally
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"--- PostgreSQL's log (tail)\n{stack.Primary.LogTail(30_000)}");
        }
    }

    private static async Task FillAndFreeAsync(EndpointStack stack, Tmpfs wal)
    {
        // A slot that holds every WAL segment from now, as an abandoned replication slot does: a checkpoint cannot recycle
        // old segments into new ones, so the WAL grows until the volume is full.
        await stack.Direct.ExecuteAsync("SELECT pg_create_physical_replication_slot('full_disk_holds_wal', true)");
        // 100 ms apart: a steady load (about 40 posts/s here) whose WAL fills the last 3 MB within seconds.
        var load = new ActivityLoad([stack.ApiUrl], $"i-disk-{Guid.NewGuid():N}"[..16], ChaosSettings.Posts, concurrency: 4, authors: stack.AccessTokens,
            pause: TimeSpan.FromMilliseconds(100));
        using var stop = new CancellationTokenSource();
        using var stopWatching = new CancellationTokenSource();
        var posting = load.RunAsync(stop.Token);
        var signingUp = stack.SendSignUpsAsync(TimeSpan.FromMilliseconds(250), stop.Token);
        await Eventually.ReachesAsync(() => load.Accepted.Count, accepted => accepted >= 50, $"50 posts accepted before the disk fills ({string.Join("; ", load.Unexpected.Take(3))})");

        var watching = stack.WatchHealthAsync(stopWatching.Token);
        var clock = Stopwatch.StartNew();
        var ballast = await wal.AllocateAsync("ballast", wal.AvailableBytes - LeftForTheLoad);
        await Eventually.ReachesAsync(() => stack.Primary.LogTail(100_000).Contains("No space left on device", StringComparison.Ordinal), full => full,
            "PostgreSQL's log saying the WAL volume is full", TimeSpan.FromSeconds(120));
        var filled = clock.Elapsed;
        var acceptedBefore = load.Accepted.Count;
        await Task.Delay(Full);
        var stoppedItself = !await stack.Primary.IsRunningAsync();
        var acceptedDuring = load.Accepted.Count - acceptedBefore;
        File.Delete(ballast);
        if (stoppedItself)
        {
            await stack.Primary.ControlAsync("start"); // returns once it accepts connections, its crash recovery done
        }
        var healed = clock.Elapsed;
        var (postResume, signUpResume) = await stack.FirstStoredAsync(load);

        await stack.HealthyAgainAsync("the space was freed");
        var recovered = clock.Elapsed;
        await stopWatching.CancelAsync();
        var health = await watching;
        await Task.Delay(5000);
        await stop.CancelAsync();
        await posting;
        await signingUp;

        var counts = await ChaosCounts.SettleAsync(stack.Direct, load, "(i) full disk (WAL volume)", TimeSpan.FromSeconds(120));
        var serverSaid = FullDiskLines(stack.Primary.LogTail(1_000_000));
        var users = await stack.SignUpsSettledAsync();
        var apiLog = EndpointStack.OutageLines(stack.Api);
        var workerLog = EndpointStack.OutageLines(stack.Worker);
        var faultHealth = health.Where(h => h.At >= filled.TotalSeconds && h.At < healed.TotalSeconds).ToList();
        (counts with
        {
            Notes = $"WAL volume full {filled.TotalSeconds:0.0} s after the ballast (\"{serverSaid}\"); PostgreSQL {(stoppedItself ? "stopped itself and was started again" : "kept running")}; " +
                $"space freed {healed.TotalSeconds - filled.TotalSeconds:0.0} s after it filled; first post stored {postResume.TotalSeconds:0.0} s and first sign-up " +
                $"{signUpResume.TotalSeconds:0.0} s after PostgreSQL accepted connections again; both health checks 200 again {(recovered - healed).TotalSeconds:0.0} s after it; " +
                $"{acceptedDuring} posts answered 202 while full; 503s {load.Unavailable} (without Retry-After {load.MissingRetryAfter}), other 5xx {load.ServerErrors}, " +
                $"no answer {load.Unanswered}, slowest answer {load.Slowest.TotalSeconds:0.0} s (bound {SilentNetworkTests.PostBound.TotalSeconds:0} s); " +
                $"sign-ups {stack.SignUpsAcknowledged} acknowledged by SQS, {users.Users} users ({users.Distinct} distinct); " +
                $"health while full: {string.Join(", ", faultHealth.GroupBy(h => (h.Process, h.Status, Cause(h.Reason))).Select(g => $"{g.Key.Process} {g.Key.Status} {g.Key.Item3} x{g.Count()}"))}; " +
                $"first reasons: Api \"{faultHealth.FirstOrDefault(h => h is { Process: "Api /readyz", Status: 503 }).Reason}\", " +
                $"Worker \"{faultHealth.FirstOrDefault(h => h is { Process: "Worker /healthz", Status: 503 }).Reason}\"; " +
                $"Api log: {apiLog.Lines} outage lines, first \"{apiLog.First}\"; Worker log: {workerLog.Lines}, first \"{workerLog.First}\"",
        }).Report();

        await PostgresRestartTests.WriteLostJobsAsync(stack.Direct, load);
        Assert.Empty(load.Unexpected);
        Assert.Equal(0, load.ServerErrors);
        Assert.True(load.Unavailable > 0, "no post met the full disk: the fault was not observed");
        Assert.Equal(0, load.MissingRetryAfter);
        Assert.True(load.Slowest < SilentNetworkTests.PostBound, $"an answer took {load.Slowest} (bound {SilentNetworkTests.PostBound})");
        Assert.Equal(0, counts.Lost);
        Assert.Equal(0, counts.Duplicates);
        Assert.Equal(counts.Acknowledged, counts.Stored);
        Assert.Equal(stack.SignUpsAcknowledged, users.Users);
        Assert.Equal(users.Users, users.Distinct);
        Assert.True(postResume < ResumeBound, $"the first post was stored {postResume} after PostgreSQL accepted connections again (bound {ResumeBound.TotalSeconds} s)");
        Assert.Contains(faultHealth, h => h is { Process: "Api /readyz", Status: 503 } && Cause(h.Reason) != "other");
        Assert.Contains(faultHealth, h => h is { Process: "Worker /healthz", Status: 503 } && Cause(h.Reason) != "other");
        // PostgreSQL tells one session, so only the process that met the error can name it; that one must.
        if (!serverSaid.EndsWith("no statement", StringComparison.Ordinal))
        {
            Assert.Contains(faultHealth, h => h.Status == 503 && Cause(h.Reason) == "disk full");
        }
        if (MetTheFullDisk(stack.Api, "Database unavailable for"))
        {
            Assert.Contains(faultHealth, h => h is { Process: "Api /readyz", Status: 503 } && Cause(h.Reason) == "disk full");
        }
        if (MetTheFullDisk(stack.Worker, "Database write: transient error"))
        {
            Assert.Contains(faultHealth, h => h is { Process: "Worker /healthz", Status: 503 } && Cause(h.Reason) == "disk full");
        }
        Assert.False(stack.Api.HasExited, "the Api exited");
        Assert.False(stack.Worker.HasExited, "the Worker exited");
        Assert.True(apiLog.Lines > 0 && workerLog.Lines > 0, "a process did not log the outage");
        Assert.Equal((0, 0), (apiLog.Leaks, workerLog.Leaks));
    }

    /// <summary>
    /// PostgreSQL's line naming the full disk, and the statement that met it: a session's PANIC is followed by its statement
    /// (its client got the error), an auxiliary process's (the WAL writer, the checkpointer) by none.
    /// </summary>
    private static string FullDiskLines(string log)
    {
        static string Message(string line) => line.IndexOf("] ", StringComparison.Ordinal) is var at and >= 0 ? line[(at + 2)..].Trim() : line.Trim();
        var lines = log.Split('\n');
        var full = Array.FindIndex(lines, line => line.Contains("No space left on device", StringComparison.Ordinal));
        var statement = lines.Skip(full + 1).Take(3).FirstOrDefault(line => line.Contains("STATEMENT:", StringComparison.Ordinal)
            || line.Contains("Failed process was running:", StringComparison.Ordinal));
        return $"{Message(lines[full])} / {(statement is null ? "no statement" : Message(statement)[..Math.Min(Message(statement).Length, 90)])}";
    }

    /// <summary>Whether the process logged PostgreSQL's disk_full on a path that remembers it for the health check (<see cref="Cruddur.Shared.Data.DatabaseDiskFull"/>).</summary>
    private static bool MetTheFullDisk(ServiceProcess process, string path) =>
        process.Output.Split('\n').Any(line => line.Contains(path, StringComparison.Ordinal) && line.Contains("53100", StringComparison.Ordinal));

    /// <summary>What a health check's reason names: the full disk, the database unreachable, or something else.</summary>
    private static string Cause(string reason) =>
        reason.Contains("Postgres out of disk space", StringComparison.Ordinal) ? "disk full"
        : reason.Contains("Postgres unreachable", StringComparison.Ordinal) ? "unreachable"
        : reason.StartsWith("Healthy", StringComparison.Ordinal) ? "healthy" : "other";
}

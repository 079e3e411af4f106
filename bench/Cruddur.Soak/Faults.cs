using System.Diagnostics;
using Npgsql;

namespace Cruddur.Soak;

/// <summary>What a fault did: when the service came back and whether the connections did.</summary>
internal sealed record FaultResult(
    string Name, bool IsPartition, double? RecoverySeconds, int ConnectionsBefore, double? ConnectionsBackSeconds, int ConnectionsMostAfter, int ConnectionsAtEnd,
    int KilledProcessConnectionsAtEnd = 0)
{
    /// <summary>
    /// Back after a partition: connected again within 60 s, and never more than before plus max(2, a fifth) over those
    /// 60 s, which a leak would pass. "Before" is measured as "after" is, the most seen by polls every 200 ms over the
    /// window before the fault: a pooled process's count is a range (each pool grows to its peak and is pruned after
    /// idle minutes), and one sample of it may fall low. Fewer is not a failure: Npgsql prunes idle connections and
    /// refills on demand. After a kill and restart the count before was another process's pool, so back means: the new process
    /// connected, and none of the killed process's backends (started before the kill) is left at 60 s.
    /// </summary>
    public bool ConnectionsBack => ConnectionsBackSeconds is not null && (IsPartition
        ? ConnectionsMostAfter <= ConnectionsBefore + Math.Max(2, ConnectionsBefore / 5)
        : KilledProcessConnectionsAtEnd == 0);
}

/// <summary>
/// The faults, at fixed fractions of the run (a third, a half, two thirds: 10, 15 and 20 minutes of 30):
/// worker-1 cut from PostgreSQL for 30 s, then the Api for 30 s, then worker-2 killed (-9) and restarted.
/// After each it measures how soon work resumed and whether the process's connections came back.
/// </summary>
internal sealed class Faults(Settings settings, Stopwatch clock, NpgsqlDataSource db)
{
    public static readonly TimeSpan PartitionLength = TimeSpan.FromSeconds(30);

    /// <summary>After a heal, 503s are still expected for this long: requests already waiting on a broken connection.</summary>
    public static readonly TimeSpan HealGrace = TimeSpan.FromSeconds(5);

    /// <summary>How long a process's connections may take to come back after a fault.</summary>
    public static readonly TimeSpan ConnectionsDeadline = TimeSpan.FromSeconds(60);

    private readonly List<(TimeSpan Cut, TimeSpan? Heal)> _apiCuts = [];
    private readonly List<Task<FaultResult>> _results = [];

    public List<(TimeSpan At, string Label)> Events { get; } = [];

    public bool ApiCutAround(TimeSpan moment)
    {
        lock (_apiCuts)
        {
            return _apiCuts.Any(c => moment >= c.Cut && (c.Heal is not { } heal || moment <= heal + HealGrace));
        }
    }

    public async Task<IReadOnlyList<FaultResult>> RunAsync(AppProcess api, AppProcess worker1, AppProcess worker2, Load load, CancellationToken stop)
    {
        var length = settings.Duration;
        await UntilAsync(length / 3 - BeforeWindow, stop);
        _results.Add(await PartitionAsync(worker1, watermark => WorkerResumedAsync(worker1, watermark), stop));
        await UntilAsync(length / 2 - BeforeWindow, stop);
        // The Api is back when a post sent after the heal is answered 202.
        _results.Add(await PartitionAsync(api, _ => Task.FromResult(load.FirstAccepted is not null), stop, apiLoad: load));
        await UntilAsync(length * 2 / 3 - BeforeWindow, stop);
        _results.Add(await KillAsync(worker2, stop));
        return await Task.WhenAll(_results);
    }

    /// <summary>
    /// Cuts <paramref name="app"/> from PostgreSQL for 30 s, heals, and returns the task that follows its recovery.
    /// <paramref name="apiLoad"/> is set when the Api is the one cut: its 503s are expected meanwhile, and its
    /// recovery is the first 202 to a post sent after the heal.
    /// </summary>
    private async Task<Task<FaultResult>> PartitionAsync(AppProcess app, Func<long, Task<bool>> resumed, CancellationToken stop, Load? apiLoad = null)
    {
        var before = await MostConnectionsAsync(app, stop);
        var cut = clock.Elapsed;
        if (apiLoad is not null)
        {
            lock (_apiCuts)
            {
                _apiCuts.Add((cut, null));
            }
        }
        app.Proxy.Cut();
        Mark($"{app.Name} cut from PostgreSQL");
        await Task.Delay(PartitionLength, stop);
        var watermark = await MaxStateIdAsync();
        var heal = clock.Elapsed;
        apiLoad?.WatchRecovery(heal);
        app.Proxy.Start();
        if (apiLoad is not null)
        {
            lock (_apiCuts)
            {
                _apiCuts[^1] = (cut, heal);
            }
        }
        Mark($"{app.Name} healed");
        return FollowAsync(app.Name, true, heal, before, app, () => resumed(watermark), apiLoad);
    }

    private async Task<Task<FaultResult>> KillAsync(AppProcess app, CancellationToken stop)
    {
        var before = await MostConnectionsAsync(app, stop);
        var killedAt = DateTimeOffset.UtcNow;
        app.Kill();
        Mark($"{app.Name} killed (-9)");
        await Task.Delay(TimeSpan.FromSeconds(1), stop);
        var watermark = await MaxStateIdAsync();
        var restart = clock.Elapsed;
        app.Start();
        Mark($"{app.Name} restarted");
        return FollowAsync(app.Name, false, restart, before, app, () => WorkerResumedAsync(app, watermark), null, killedAt);
    }

    /// <summary>The window before a fault whose most connections are its "before": 60 s, as after it, or a sixth of a short soak.</summary>
    private TimeSpan BeforeWindow => TimeSpan.FromTicks(Math.Min(ConnectionsDeadline.Ticks, settings.Duration.Ticks / 6));

    /// <summary>The most connections <paramref name="app"/> had, polled every 200 ms over <see cref="BeforeWindow"/>.</summary>
    private async Task<int> MostConnectionsAsync(AppProcess app, CancellationToken stop)
    {
        var most = 0;
        for (var watch = Stopwatch.StartNew(); watch.Elapsed < BeforeWindow && !stop.IsCancellationRequested; await Task.Delay(200, CancellationToken.None))
        {
            most = Math.Max(most, await ConnectionsAsync(app));
        }
        return most;
    }

    /// <summary>Polls every 200 ms for 60 s after a heal (or restart): when work resumed, when the process had connections again, and how many at most.</summary>
    private async Task<FaultResult> FollowAsync(
        string name, bool isPartition, TimeSpan from, int before, AppProcess app, Func<Task<bool>> resumed, Load? apiLoad, DateTimeOffset? killedAt = null)
    {
        double? recovery = null, back = null;
        int most = 0, now = 0;
        while (clock.Elapsed - from < ConnectionsDeadline)
        {
            if (recovery is null && await resumed())
            {
                recovery = ((apiLoad?.FirstAccepted ?? clock.Elapsed) - from).TotalSeconds;
            }
            now = await ConnectionsAsync(app);
            most = Math.Max(most, now);
            if (back is null && now >= 1)
            {
                back = (clock.Elapsed - from).TotalSeconds;
            }
            await Task.Delay(200);
        }
        var killedLeft = killedAt is { } kill ? await ConnectionsAsync(app, startedBefore: kill) : 0;
        return new FaultResult(name, isPartition, recovery, before, back, most, now, killedLeft);
    }

    /// <summary>A Worker resumed once it took a job (a Processing state naming its server, pid included) after the heal.</summary>
    private async Task<bool> WorkerResumedAsync(AppProcess worker, long stateWatermark)
    {
        await using var command = db.CreateCommand(
            "SELECT EXISTS (SELECT 1 FROM hangfire.state WHERE id > $1 AND name = 'Processing' AND data->>'ServerId' LIKE $2)");
        command.Parameters.AddWithValue(stateWatermark);
        command.Parameters.AddWithValue($"%:{worker.Pid}:%");
        return (bool)(await command.ExecuteScalarAsync())!;
    }

    private async Task<long> MaxStateIdAsync()
    {
        await using var command = db.CreateCommand("SELECT COALESCE(max(id), 0) FROM hangfire.state");
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The backends of <paramref name="app"/>'s pools; with <paramref name="startedBefore"/>, only those older than it.</summary>
    public async Task<int> ConnectionsAsync(AppProcess app, DateTimeOffset? startedBefore = null)
    {
        await using var command = db.CreateCommand(
            "SELECT count(*)::int FROM pg_stat_activity WHERE application_name IN ($1, $1 || ' (reads)', $1 || ' (async commit)') AND ($2::timestamptz IS NULL OR backend_start < $2)");
        command.Parameters.AddWithValue(app.ApplicationName);
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)startedBefore ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
        return (int)(await command.ExecuteScalarAsync())!;
    }

    private void Mark(string label)
    {
        lock (Events)
        {
            Events.Add((clock.Elapsed, label));
        }
        Console.WriteLine(FormattableString.Invariant($"{clock.Elapsed.TotalSeconds,7:F1}s  {label}"));
    }

    private async Task UntilAsync(TimeSpan moment, CancellationToken stop)
    {
        if (moment > clock.Elapsed)
        {
            await Task.Delay(moment - clock.Elapsed, stop);
        }
    }
}

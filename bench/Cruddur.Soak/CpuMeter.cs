using System.Diagnostics;
using System.Globalization;

namespace Cruddur.Soak;

/// <summary>CPU used since the previous reading, from /proc: where the machine's two cores went in each window.</summary>
internal sealed record CpuUse(
    double MachineBusyPct, double MachineIowaitPct, Dictionary<string, double> ProcessPct, double PostgresPct, double DriverPct,
    double DriverGcPauseMs);

internal sealed class CpuMeter
{
    private const double TicksPerSecond = 100; // USER_HZ on Linux

    private (long Busy, long Iowait, long Total) _machine = ReadMachine();
    private readonly Dictionary<string, (int Pid, long Ticks)> _processes = [];
    private long _postgres = ReadPostgres();
    private TimeSpan _driver = Process.GetCurrentProcess().TotalProcessorTime;
    private TimeSpan _driverGc = GC.GetTotalPauseDuration();
    private readonly Stopwatch _since = Stopwatch.StartNew();

    /// <summary>Machine figures in percent of all cores; processes in percent of one core (200 = both cores).</summary>
    public CpuUse Take(IReadOnlyList<AppProcess> apps)
    {
        var seconds = Math.Max(_since.Elapsed.TotalSeconds, 0.001);
        _since.Restart();
        var machine = ReadMachine();
        var total = Math.Max(machine.Total - _machine.Total, 1);
        var use = new Dictionary<string, double>();
        foreach (var app in apps)
        {
            var ticks = ReadProcess(app.Pid);
            // A restarted process starts from 0: its first window counts from its start. A process that is gone
            // (killed, not restarted yet) reads 0 and used nothing since.
            var before = _processes.TryGetValue(app.Name, out var seen) && seen.Pid == app.Pid ? seen.Ticks : 0;
            use[app.Name] = Math.Max(ticks - before, 0) / TicksPerSecond / seconds * 100;
            _processes[app.Name] = (app.Pid, ticks);
        }
        var postgres = ReadPostgres();
        var driver = Process.GetCurrentProcess().TotalProcessorTime;
        var gc = GC.GetTotalPauseDuration();
        var result = new CpuUse(
            (machine.Busy - _machine.Busy) * 100.0 / total, (machine.Iowait - _machine.Iowait) * 100.0 / total, use,
            Math.Max(postgres - _postgres, 0) / TicksPerSecond / seconds * 100, (driver - _driver).TotalSeconds / seconds * 100,
            (gc - _driverGc).TotalMilliseconds);
        (_machine, _postgres, _driver, _driverGc) = (machine, postgres, driver, gc);
        return result;
    }

    private static (long Busy, long Iowait, long Total) ReadMachine()
    {
        // cpu  user nice system idle iowait irq softirq steal ...
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        var total = fields.Take(8).Sum();
        return (total - fields[3] - fields[4], fields[4], total);
    }

    /// <summary>utime + stime of a process, and with <paramref name="children"/> those of its reaped children too.</summary>
    private static long ReadProcess(int pid, bool children = false)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // After "pid (comm) ": state is field 3, utime 14, stime 15, cutime 16, cstime 17.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return children ? ticks + long.Parse(fields[13], CultureInfo.InvariantCulture) + long.Parse(fields[14], CultureInfo.InvariantCulture) : ticks;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>Every postgres process's CPU, with the exited backends' (the postmaster's reaped children).</summary>
    private static long ReadPostgres()
    {
        long ticks = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "comm")).TrimEnd() == "postgres")
                {
                    // Only the postmaster's reaped children are ours to add; a backend has none.
                    ticks += ReadProcess(pid, children: true);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // the process ended between the listing and the read
            }
        }
        return ticks;
    }
}

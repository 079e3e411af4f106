using System.Diagnostics;
using Npgsql;

namespace Cruddur.Shared.Data;

/// <summary>
/// The last "out of disk space" (SQLSTATE 53100, <c>disk_full</c>) a statement of this process met, for the health checks
/// to name. When the volume holding the WAL fills, PostgreSQL PANICs and stops: from then on a probe sees only a refused
/// connection, and only the statement that met the error knew why. Noted by the retry pipelines, the Api's 503 handler
/// and every exception the process logs (<see cref="DatabaseDiskFullLogProvider"/>); process-wide and static because the
/// pipelines and loggers that see the error are built without the container. Cleared by the next probe that gets an answer.
/// </summary>
public static class DatabaseDiskFull
{
    private static Seen? _last;

    /// <summary>Remembers <paramref name="exception"/> (or its cause) if it is PostgreSQL's disk_full; anything else is ignored.</summary>
    public static void Note(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is PostgresException { SqlState: PostgresErrorCodes.DiskFull } full)
            {
                Volatile.Write(ref _last, new Seen(Stopwatch.GetTimestamp(), $"{full.SqlState} {full.MessageText}"));
                return;
            }
        }
    }

    /// <summary>The error and how long ago it was met, or null when none was met since the last <see cref="Clear"/>.</summary>
    public static string? Describe() =>
        Volatile.Read(ref _last) is { } seen ? $"{seen.Error} ({Stopwatch.GetElapsedTime(seen.At).TotalSeconds:0} s ago)" : null;

    /// <summary>PostgreSQL answered a probe: whatever filled the disk is over.</summary>
    public static void Clear() => Volatile.Write(ref _last, null);

    /// <summary>A health check's reason for a probe that failed with <paramref name="probe"/>: the disk if it was seen full, else unreachable.</summary>
    public static string UnhealthyReason(Exception probe) => Describe() is { } full
        ? $"Postgres out of disk space: {full}; now {probe.Message}"
        : $"Postgres unreachable: {probe.Message}";

    private sealed record Seen(long At, string Error);
}

using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Cruddur.Soak;

/// <summary>
/// The disk apart from our code: every 100 ms, 8 KiB written in place and fdatasync'd, as PostgreSQL syncs its WAL, in
/// a file on the cluster's filesystem; each write+sync timed. A stall of the disk shows here whatever our processes do.
/// </summary>
internal sealed class DiskProbe : IDisposable
{
    private const int BlockSize = 8192, Blocks = 1024;
    private readonly string _path;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _stop = new();
    private readonly Lock _lock = new();
    private List<double> _samplesMs = [];

    public DiskProbe(string directory)
    {
        _path = Path.Combine(directory, "soak-disk-probe.bin");
        _thread = new Thread(Run) { IsBackground = true, Name = "disk probe" };
        _thread.Start();
    }

    /// <summary>The write+sync times (ms) since the previous call.</summary>
    public double[] Take()
    {
        lock (_lock)
        {
            var taken = _samplesMs;
            _samplesMs = [];
            return [.. taken];
        }
    }

    private void Run()
    {
        try
        {
            using var file = File.OpenHandle(_path, FileMode.Create, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose);
            // Allocated once, so each sync writes data in place (as into PostgreSQL's preallocated WAL segments).
            var block = new byte[BlockSize];
            for (var i = 0; i < Blocks; i++)
            {
                RandomAccess.Write(file, block, (long)i * BlockSize);
            }
            RandomAccess.FlushToDisk(file);
            var clock = new Stopwatch();
            for (var n = 0; !_stop.Wait(100); n++)
            {
                block[0] = (byte)n;
                clock.Restart();
                RandomAccess.Write(file, block, (long)(n % Blocks) * BlockSize);
                if (Fdatasync(file) != 0)
                {
                    throw new IOException($"fdatasync failed (errno {Marshal.GetLastPInvokeError()})");
                }
                lock (_lock)
                {
                    _samplesMs.Add(clock.Elapsed.TotalMilliseconds);
                }
            }
        }
        catch (Exception e) // a probe that fails says so once and stops; the soak goes on without its figures
        {
            Console.Error.WriteLine($"disk probe stopped: {e.Message}");
        }
    }

    public void Dispose()
    {
        _stop.Set();
        _thread.Join();
        _stop.Dispose();
    }

    // RandomAccess.FlushToDisk is fsync (strace), which also writes the inode's mtime; PostgreSQL's WAL uses fdatasync.
    [DllImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static extern int Fdatasync(SafeFileHandle fd);
}

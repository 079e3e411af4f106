namespace Cruddur.Tests.Fixtures;

/// <summary>
/// A filesystem of its own, a tmpfs of a fixed size mounted on a new directory (root only: <c>mount -t tmpfs</c>) and
/// given to the <c>postgres</c> user, for a test that fills it. Unmounted and removed on dispose.
/// </summary>
public sealed class Tmpfs : IAsyncDisposable
{
    private Tmpfs(string path) => Path = path;

    public string Path { get; }

    /// <summary>Bytes still free on it.</summary>
    public long AvailableBytes => new DriveInfo(Path).AvailableFreeSpace;

    public static async Task<Tmpfs> MountAsync(int megabytes)
    {
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"cruddur-tmpfs-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        var mount = await ProcessRunner.RunAsync("mount", ["-t", "tmpfs", "-o", $"size={megabytes}m,mode=0700", "tmpfs", path]);
        if (mount.ExitCode != 0)
        {
            Directory.Delete(path);
            throw new InvalidOperationException($"mount -t tmpfs on {path} failed: {mount}");
        }
        var tmpfs = new Tmpfs(path);
        var chown = await ProcessRunner.RunAsync("chown", ["postgres:postgres", path]);
        if (chown.ExitCode != 0)
        {
            await tmpfs.DisposeAsync();
            throw new InvalidOperationException($"chown postgres {path} failed: {chown}");
        }
        return tmpfs;
    }

    /// <summary>
    /// Writes a file of <paramref name="bytes"/> that really takes the space (<c>fallocate</c>: a sparse file would take
    /// none), so what is left for others is what the test chose.
    /// </summary>
    public async Task<string> AllocateAsync(string name, long bytes)
    {
        var file = System.IO.Path.Combine(Path, name);
        var allocate = await ProcessRunner.RunAsync("fallocate", ["-l", bytes.ToString(System.Globalization.CultureInfo.InvariantCulture), file]);
        if (allocate.ExitCode != 0)
        {
            throw new InvalidOperationException($"fallocate {bytes} bytes on {Path} failed: {allocate}");
        }
        return file;
    }

    public async ValueTask DisposeAsync()
    {
        // Lazy: a server that failed to stop may still hold files on it; the mount goes once they are closed.
        var unmount = await ProcessRunner.RunAsync("umount", ["--lazy", Path]);
        if (unmount.ExitCode == 0)
        {
            Directory.Delete(Path, recursive: true);
        }
        else
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"umount {Path} failed: {unmount}");
        }
    }
}

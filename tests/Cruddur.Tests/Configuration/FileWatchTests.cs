using Cruddur.Tests.Fixtures;

namespace Cruddur.Tests.Configuration;

/// <summary>
/// The Api and the Worker read their settings once. The host's default reload would watch every directory under the
/// working directory (bin/up, run from the checkout, keeps its cluster and logs under it; these processes run in the
/// temp directory, beside the test clusters), and wake on each write there.
/// </summary>
public sealed class FileWatchTests(PostgresServer server)
{
    [Fact]
    public async Task The_Api_and_the_Worker_watch_no_files()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var worker = ServiceProcess.StartWorker(db.Url);
        await using var api = await ServiceProcess.StartApiAsync(db.Url, PortAllocator.Free());
        await worker.WaitForOutputAsync("all the dispatchers started", TimeSpan.FromSeconds(90));

        Assert.Equal(0, InotifyWatches(worker.Id));
        Assert.Equal(0, InotifyWatches(api.Id));
    }

    // Each watched directory is a line "inotify wd:..." in the fdinfo of the process's inotify descriptor.
    private static int InotifyWatches(int pid) =>
        Directory.GetFiles($"/proc/{pid}/fdinfo").Sum(fd => WatchLines(fd));

    // A running process opens and closes descriptors (sockets, pooled connections) between the listing and the read;
    // a descriptor closed meanwhile (its fdinfo gone, or gone mid-read) watches nothing.
    private static int WatchLines(string fdinfo)
    {
        try
        {
            return File.ReadLines(fdinfo).Count(line => line.StartsWith("inotify wd:", StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return 0;
        }
    }
}

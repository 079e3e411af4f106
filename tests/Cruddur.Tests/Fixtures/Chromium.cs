namespace Cruddur.Tests.Fixtures;

/// <summary>Debian's headless Chromium (bin/test installs it), started with the flags it needs on this closed network.</summary>
public static class Chromium
{
    private static readonly string[] Paths = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

    public static string Executable => Paths.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("Chromium not found: apt-get install -y chromium (bin/install-prerequisites does).");

    /// <summary>
    /// The flags every run needs: no sandbox (root), no GPU, and no background connections to Google's hosts, which
    /// this machine's closed network refuses (many at a time). <paramref name="profile"/> is a new, empty user data folder.
    /// </summary>
    public static string[] Flags(string profile) =>
    [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", $"--user-data-dir={profile}",
    ];

    /// <summary>Opens <paramref name="url"/> and leaves the browser running until the returned process is disposed.</summary>
    public static async Task<OpenPage> OpenAsync(Uri url)
    {
        var profile = Directory.CreateTempSubdirectory("cruddur-chromium-");
        var browser = ServiceProcess.StartCommand(Executable, [.. Flags(profile.FullName), url.AbsoluteUri], new Dictionary<string, string?>());
        await Task.Yield();
        return new OpenPage(browser, profile);
    }

    public sealed class OpenPage(ServiceProcess browser, DirectoryInfo profile) : IAsyncDisposable
    {
        /// <summary>What the browser printed (its console errors among it).</summary>
        public string Output => browser.Output;

        public async ValueTask DisposeAsync()
        {
            await browser.DisposeAsync();
            profile.Delete(recursive: true);
        }
    }
}

using System.Net;
using System.Text;
using System.Text.Json;
using Cruddur.Tests.Fixtures;
using Cruddur.Worker.Activities;

namespace Cruddur.Tests.EndToEnd;

/// <summary>The Hangfire dashboard as an operator sees it: a real browser (Debian's headless Chromium) against the Api.</summary>
public class DashboardBrowserTests(PostgresServer server)
{
    private const string User = "operator";
    private const string Password = "dash-Secret-42";

    private static readonly string[] ChromiumPaths = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

    [Fact]
    public async Task The_dashboard_renders_in_a_browser_and_lists_a_job_by_its_function_name()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var worker = await InProcessWorker.StartAsync(db.Url, [typeof(ActivityFunctions)]);
        var port = PortAllocator.Free();
        await using var api = await ServiceProcess.StartApiAsync(db.Url, port, new Dictionary<string, string?>
        {
            ["HANGFIRE_DASHBOARD_USER"] = User,
            ["HANGFIRE_DASHBOARD_PASSWORD"] = Password,
        });
        using var http = new HttpClient();
        var posted = await http.PostAsync(new Uri($"http://127.0.0.1:{port}/api/activities"), new StringContent(
            """{"user_handle":"bayko","message":"seen in the dashboard","ttl":"1-day"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
        var jobId = JsonDocument.Parse(await posted.Content.ReadAsStringAsync()).RootElement.GetProperty("job_id").GetString()!;
        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(db.DataSource, jobId)).State);
        var page = $"127.0.0.1:{port}/hangfire/jobs/succeeded";

        var signedIn = await ChromiumAsync("--dump-dom", $"http://{User}:{Password}@{page}");
        var anonymous = await ChromiumAsync("--dump-dom", $"http://{page}");
        var screenshot = Path.Combine(Repository.Root, "artifacts", "screenshots", "hangfire-succeeded-jobs.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
        File.Delete(screenshot);
        await ChromiumAsync($"--screenshot={screenshot}", "--window-size=1280,800", $"http://{User}:{Password}@{page}");

        Assert.Contains("Succeeded Jobs", signedIn, StringComparison.Ordinal);
        Assert.Contains("create-activity", signedIn, StringComparison.Ordinal);
        Assert.Contains($"#{jobId}", signedIn, StringComparison.Ordinal);
        Assert.DoesNotContain("create-activity", anonymous, StringComparison.Ordinal);
        Assert.DoesNotContain(PostgresServer.Password, signedIn, StringComparison.Ordinal);
        var png = await File.ReadAllBytesAsync(screenshot);
        Assert.True(png.Length > 10_000, $"the screenshot is only {png.Length} bytes");
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        TestContext.Current.SendDiagnosticMessage($"dashboard screenshot: {screenshot}");
    }

    private static async Task<string> ChromiumAsync(params string[] arguments)
    {
        var chromium = ChromiumPaths.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("Chromium not found: apt-get install -y chromium (bin/install-prerequisites does).");
        var profile = Directory.CreateTempSubdirectory("cruddur-chromium-");
        try
        {
            // The flags keep Chromium off the network it cannot reach here, and out of any profile of a user's.
            var result = await ProcessRunner.RunAsync(chromium,
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", $"--user-data-dir={profile.FullName}", .. arguments,
            ], timeout: TimeSpan.FromSeconds(90));
            Assert.True(result.ExitCode == 0, result.ToString());
            return result.Stdout;
        }
        finally
        {
            profile.Delete(recursive: true);
        }
    }
}

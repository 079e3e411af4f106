using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Cruddur.Shared.Activities;
using Cruddur.Shared.Jobs;
using Cruddur.Tests.Fixtures;
using Microsoft.Extensions.DependencyInjection;

namespace Cruddur.Tests.Dashboard;

/// <summary>Who may open /hangfire, against the Api as a real process on 127.0.0.1.</summary>
public class DashboardAccessTests(PostgresServer server)
{
    [Fact]
    public async Task Without_credentials_configured_the_dashboard_answers_local_requests()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var port = PortAllocator.Free();
        await using var api = await ServiceProcess.StartApiAsync(db.Url, port);
        using var http = new HttpClient();

        var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/hangfire"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("Cruddur jobs", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_credentials_configured_anonymous_and_wrong_ones_get_401_with_a_challenge_and_the_right_ones_get_in()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var port = PortAllocator.Free();
        await using var api = await ServiceProcess.StartApiAsync(db.Url, port, Credentials());
        using var http = new HttpClient();
        var url = new Uri($"http://127.0.0.1:{port}/hangfire");

        var anonymous = await http.GetAsync(url);
        var wrong = await http.SendAsync(Get(url, "ops", "guess"));
        var right = await http.SendAsync(Get(url, "ops", "s3cret-Dashboard"));

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("Basic", anonymous.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        Assert.DoesNotContain("s3cret-Dashboard", api.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Read_only_hides_retry_and_delete_and_the_connection_string_is_never_shown()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        // A job to look at: enqueued by the Api's own client, never run (no Worker here).
        var jobId = await EnqueueAsync(db);
        var writable = PortAllocator.Free();
        var readOnly = PortAllocator.Free();
        await using var api = await ServiceProcess.StartApiAsync(db.Url, writable, Credentials());
        await using var readOnlyApi = await ServiceProcess.StartApiAsync(db.Url, readOnly,
            new Dictionary<string, string?>(Credentials()) { ["HANGFIRE_DASHBOARD_READONLY"] = "true" });
        using var http = new HttpClient();

        var full = await http.SendAsync(Get(new Uri($"http://127.0.0.1:{writable}/hangfire/jobs/details/{jobId}"), "ops", "s3cret-Dashboard"));
        var limited = await http.SendAsync(Get(new Uri($"http://127.0.0.1:{readOnly}/hangfire/jobs/details/{jobId}"), "ops", "s3cret-Dashboard"));
        var fullPage = await full.Content.ReadAsStringAsync();
        var limitedPage = await limited.Content.ReadAsStringAsync();

        Assert.Contains("create-activity", limitedPage, StringComparison.Ordinal);
        Assert.Contains("/actions/delete/", fullPage, StringComparison.Ordinal);
        Assert.DoesNotContain("/actions/delete/", limitedPage, StringComparison.Ordinal);
        Assert.DoesNotContain("/actions/requeue/", limitedPage, StringComparison.Ordinal);
        Assert.DoesNotContain(PostgresServer.Password, fullPage, StringComparison.Ordinal);
        Assert.DoesNotContain("Host=", fullPage, StringComparison.Ordinal);
    }

    private static Dictionary<string, string?> Credentials() => new()
    {
        ["HANGFIRE_DASHBOARD_USER"] = "ops",
        ["HANGFIRE_DASHBOARD_PASSWORD"] = "s3cret-Dashboard",
    };

    private static HttpRequestMessage Get(Uri url, string user, string password) => new(HttpMethod.Get, url)
    {
        Headers = { Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"))) },
    };

    private static async Task<string> EnqueueAsync(TestDatabase db)
    {
        await using var api = new ApiFactory(db.Url);
        var jobs = api.Services.GetRequiredService<IJobQueue>();
        return await jobs.EnqueueAsync(new CreateActivityJob(Guid.CreateVersion7(), "bayko", "waiting", DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1)));
    }
}

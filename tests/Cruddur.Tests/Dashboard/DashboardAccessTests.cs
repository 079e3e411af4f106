using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Cruddur.Shared.Activities;
using Cruddur.Shared.Jobs;
using Cruddur.Tests.Fixtures;
using Cruddur.Worker.Activities;
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
        // Outside Development the operator is told: behind a proxy on this machine, every request is local.
        Assert.Contains("Hangfire dashboard without HANGFIRE_DASHBOARD_USER and HANGFIRE_DASHBOARD_PASSWORD", api.Output, StringComparison.Ordinal);
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
        Assert.DoesNotContain("Hangfire dashboard without", api.Output, StringComparison.Ordinal);
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

    [Fact]
    public async Task A_viewer_sees_the_dashboard_without_actions_and_cannot_requeue_while_the_operator_can()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var jobId = await EnqueueAsync(db);
        await db.ExecuteAsync($"UPDATE hangfire.job SET statename = 'Failed' WHERE id = {jobId}");
        var port = PortAllocator.Free();
        await using var api = await ServiceProcess.StartApiAsync(db.Url, port, new Dictionary<string, string?>(Credentials())
        {
            ["HANGFIRE_DASHBOARD_VIEWER_USER"] = "support",
            ["HANGFIRE_DASHBOARD_VIEWER_PASSWORD"] = "look-Only-7",
        });
        var details = new Uri($"http://127.0.0.1:{port}/hangfire/jobs/details/{jobId}");
        var requeue = new Uri($"http://127.0.0.1:{port}/hangfire/jobs/actions/requeue/{jobId}");
        async Task<(string Page, HttpResponseMessage Requeued)> ActAsAsync(string user, string password)
        {
            using var browser = new HttpClient();
            var page = await (await browser.SendAsync(Get(details, user, password))).Content.ReadAsStringAsync();
            using var post = OwnPost(requeue, page, user, password);
            return (page, await browser.SendAsync(post));
        }

        var viewer = await ActAsAsync("support", "look-Only-7");
        var afterViewer = await HangfireJobs.StateAsync(db.DataSource, jobId);
        using var stranger = new HttpClient();
        var wrong = await stranger.SendAsync(Get(details, "support", "s3cret-Dashboard"));
        var operatorSaw = await ActAsAsync("ops", "s3cret-Dashboard");

        Assert.Contains("create-activity", viewer.Page, StringComparison.Ordinal);
        Assert.DoesNotContain("/actions/requeue/", viewer.Page, StringComparison.Ordinal);
        Assert.False(viewer.Requeued.IsSuccessStatusCode, $"the viewer's requeue answered {(int)viewer.Requeued.StatusCode}");
        Assert.Equal("Failed", afterViewer.State);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode); // the viewer's name with the operator's password
        Assert.Contains("/actions/requeue/", operatorSaw.Page, StringComparison.Ordinal);
        Assert.True(operatorSaw.Requeued.IsSuccessStatusCode, $"the operator's requeue answered {(int)operatorSaw.Requeued.StatusCode}");
        Assert.Equal("Enqueued", (await HangfireJobs.StateAsync(db.DataSource, jobId)).State);
        Assert.DoesNotContain("look-Only-7", api.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("delete")]
    [InlineData("requeue")]
    public async Task A_cross_site_form_post_with_valid_credentials_changes_nothing_and_the_dashboards_own_post_works(string action)
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var jobId = await EnqueueAsync(db);
        await db.ExecuteAsync($"UPDATE hangfire.job SET statename = 'Failed' WHERE id = {jobId}"); // what an operator retries
        var port = PortAllocator.Free();
        await using var api = await ServiceProcess.StartApiAsync(db.Url, port, Credentials());
        using var http = new HttpClient(); // keeps cookies, as a browser does
        var dashboard = new Uri($"http://127.0.0.1:{port}/hangfire/");
        var page = await (await http.SendAsync(Get(new Uri(dashboard, $"jobs/details/{jobId}"), "ops", "s3cret-Dashboard"))).Content.ReadAsStringAsync();

        // What a hostile page's <form method=post> sends: a form body, its own Origin, and the credentials the
        // operator's browser has cached (and the antiforgery cookie, which alone proves nothing), but no token.
        using var forged = new HttpRequestMessage(HttpMethod.Post, new Uri(dashboard, $"jobs/actions/{action}/{jobId}"))
        {
            Content = new FormUrlEncodedContent([]),
            Headers = { Authorization = Get(dashboard, "ops", "s3cret-Dashboard").Headers.Authorization },
        };
        forged.Headers.Add("Origin", "http://evil.example");
        var refused = await http.SendAsync(forged);
        var afterForgery = await HangfireJobs.StateAsync(db.DataSource, jobId);

        using var own = OwnPost(new Uri(dashboard, $"jobs/actions/{action}/{jobId}"), page, "ops", "s3cret-Dashboard");
        var accepted = await http.SendAsync(own);
        var afterOwn = await HangfireJobs.StateAsync(db.DataSource, jobId);

        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal("Failed", afterForgery.State);
        Assert.True(accepted.IsSuccessStatusCode, $"the dashboard's own {action} answered {(int)accepted.StatusCode}");
        Assert.Equal(action == "delete" ? "Deleted" : "Enqueued", afterOwn.State);
    }

    [Fact]
    public async Task Behind_Apis_sharing_DATA_PROTECTION_KEYS_DIR_a_page_from_one_acts_through_another_and_without_it_is_refused()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var jobId = await EnqueueAsync(db);
        await db.ExecuteAsync($"UPDATE hangfire.job SET statename = 'Failed' WHERE id = {jobId}");
        var shared = Directory.CreateTempSubdirectory("cruddur-keys-");
        var homes = Enumerable.Range(0, 3).Select(_ => Directory.CreateTempSubdirectory("cruddur-home-")).ToArray();
        try
        {
            // Each Api as on a host of its own (its own home, where ASP.NET Core keeps its keys by default), behind one name.
            Dictionary<string, string?> Host(int home, string? keys) =>
                new(Credentials()) { ["HOME"] = homes[home].FullName, ["DATA_PROTECTION_KEYS_DIR"] = keys };
            var ports = Enumerable.Range(0, 3).Select(_ => PortAllocator.Free()).ToArray();
            await using var first = await ServiceProcess.StartApiAsync(db.Url, ports[0], Host(0, shared.FullName));
            await using var second = await ServiceProcess.StartApiAsync(db.Url, ports[1], Host(1, shared.FullName));
            await using var unshared = await ServiceProcess.StartApiAsync(db.Url, ports[2], Host(2, null));
            // Two operators' browsers, each with the page and the antiforgery cookie the first Api gave it; a cookie goes to
            // every port of 127.0.0.1, as a browser's to the one name in front of the Apis.
            async Task<(HttpClient Browser, string Page)> OpenOnFirstAsync()
            {
                var browser = new HttpClient();
                var page = await (await browser.SendAsync(Get(new Uri($"http://127.0.0.1:{ports[0]}/hangfire/jobs/details/{jobId}"), "ops", "s3cret-Dashboard")))
                    .Content.ReadAsStringAsync();
                return (browser, page);
            }
            HttpRequestMessage Requeue(int port, string page) =>
                OwnPost(new Uri($"http://127.0.0.1:{port}/hangfire/jobs/actions/requeue/{jobId}"), page, "ops", "s3cret-Dashboard");
            var (one, onePage) = await OpenOnFirstAsync();
            var (other, otherPage) = await OpenOnFirstAsync();
            using var oneBrowser = one;
            using var otherBrowser = other;

            using var toUnshared = Requeue(ports[2], onePage);
            using var toSecond = Requeue(ports[1], otherPage);

            var refused = await one.SendAsync(toUnshared);
            var afterRefused = await HangfireJobs.StateAsync(db.DataSource, jobId);
            var accepted = await other.SendAsync(toSecond);

            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Equal("Failed", afterRefused.State);
            Assert.True(accepted.IsSuccessStatusCode, $"the second Api answered {(int)accepted.StatusCode}: {second.Output}");
            Assert.Equal("Enqueued", (await HangfireJobs.StateAsync(db.DataSource, jobId)).State);
            Assert.NotEmpty(shared.GetFiles("key-*.xml"));
        }
        finally
        {
            foreach (var directory in homes.Append(shared))
            {
                directory.Delete(recursive: true);
            }
        }
    }

    [Fact]
    public async Task Requeue_on_the_dashboard_closes_an_open_job_early_and_loses_nothing()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var app = new ApiFactory(db.Url);
        var jobs = app.Services.GetRequiredService<IJobQueue>();
        var now = DateTimeOffset.UtcNow;
        var bayko = await db.ScalarAsync<Guid>("SELECT uuid FROM users WHERE handle = 'bayko'");
        // The job an Api is still filling: committed, on no queue.
        var open = jobs.OpenBatch<CreateActivityJob>([new(Guid.CreateVersion7(), "bayko", "held open", now, now.AddDays(1)) { UserUuid = bayko }], closing: null);
        var port = PortAllocator.Free();
        await using var api = await ServiceProcess.StartApiAsync(db.Url, port, Credentials());
        using var browser = new HttpClient();
        var page = await (await browser.SendAsync(Get(new Uri($"http://127.0.0.1:{port}/hangfire/jobs/details/{open}"), "ops", "s3cret-Dashboard")))
            .Content.ReadAsStringAsync();
        using var requeue = OwnPost(new Uri($"http://127.0.0.1:{port}/hangfire/jobs/actions/requeue/{open}"), page, "ops", "s3cret-Dashboard");

        var requeued = await browser.SendAsync(requeue);

        Assert.True(requeued.IsSuccessStatusCode, $"the requeue answered {(int)requeued.StatusCode}");
        Assert.Equal(1L, await db.ScalarAsync<long>($"SELECT count(*) FROM hangfire.jobqueue WHERE jobid = {open}"));
        // The Api's next post finds the job closed and opens another.
        Assert.False(jobs.AppendToBatch<CreateActivityJob>(open, [new(Guid.CreateVersion7(), "bayko", "too late", now, now.AddDays(1))]));
        await using var worker = await InProcessWorker.StartAsync(db.Url, [typeof(ActivityFunctions)]);
        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(db.DataSource, open)).State);
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM activities WHERE message = 'held open'"));
    }

    [Fact]
    public async Task The_readmes_psql_line_lists_the_posts_of_a_batch_too_big_for_the_dashboards_page()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        string jobId;
        await using (var api = new ApiFactory(db.Url))
        {
            var now = DateTimeOffset.UtcNow;
            jobId = await api.Services.GetRequiredService<IJobQueue>().EnqueueBatchAsync(
                Enumerable.Range(1, 64).Select(n => new CreateActivityJob(Guid.CreateVersion7(), "bayko", $"post {n} \"quoted\"", now, now.AddDays(1))).ToList());
        }
        var line = System.Text.RegularExpressions.Regex.Match(Repository.Readme, "`(bin/db-connect -c \"SELECT post->>[^`]*)`").Groups[1].Value
            .Replace("JOB_ID", jobId, StringComparison.Ordinal);

        var result = await Repository.RunAsPastedAsync(line, new Dictionary<string, string?> { ["CONNECTION_URL"] = db.Url });

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches("bayko +\\| post 64 \"quoted\"", result.Stdout);
        Assert.Contains("(64 rows)", result.Stdout, StringComparison.Ordinal);
    }

    /// <summary>An action as the dashboard's own script posts it: its page's antiforgery token in the header the page names.</summary>
    private static HttpRequestMessage OwnPost(Uri action, string page, string user, string password)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, action)
        {
            Content = new FormUrlEncodedContent([]),
            Headers = { Authorization = Get(action, user, password).Headers.Authorization },
        };
        request.Headers.Add(Meta(page, "csrf-header"), Meta(page, "csrf-token"));
        return request;
    }

    private static string Meta(string page, string name) =>
        System.Text.RegularExpressions.Regex.Match(page, $"<meta name=\"{name}\" content=\"([^\"]+)\"") is { Success: true } match
            ? System.Net.WebUtility.HtmlDecode(match.Groups[1].Value)
            : throw new Xunit.Sdk.XunitException($"the dashboard's page has no {name} meta tag");

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

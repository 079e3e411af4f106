using System.Text.Json;
using Cruddur.Api.Authentication;
using Cruddur.Tests.Fixtures;
using Cruddur.Worker.Activities;

namespace Cruddur.Tests.EndToEnd;

/// <summary>
/// The Cruddur frontend's own requests, from a page on its own origin in headless Chromium (only a browser enforces
/// CORS), against an Api and a Worker signed in with a moto_server Cognito pool: the home feed with
/// <c>Authorization: Bearer &lt;token&gt;</c> (and <c>Bearer null</c>, as the frontend sends it signed out), and the
/// post with <c>Accept</c>, <c>Authorization</c> and <c>Content-Type: application/json</c>, exactly as
/// HomeFeedPage.js and ActivityForm.js send them.
/// </summary>
public sealed class FrontendBrowserTests(PostgresServer server, MotoServer moto) : IAsyncLifetime
{
    private TestDatabase _db = null!;
    private MotoCognito _pool = null!;
    private CognitoTestUser _alice = null!;
    private InProcessWorker _worker = null!;
    private FrontendPages _pages = null!;
    private ServiceProcess _api = null!;
    private int _apiPort;

    private int AllowedPort => _pages.Ports[0];

    private int OtherPort => _pages.Ports[1];

    public async ValueTask InitializeAsync()
    {
        _db = await TestDatabase.CreateAsync(server, seed: true);
        _pool = await MotoCognito.CreateAsync(moto);
        _alice = await _pool.SignUpAndSignInAsync("alice");
        await _db.ExecuteAsync($"""
            INSERT INTO users (display_name, handle, email, cognito_user_id)
            VALUES ('Alice Example', 'alice', 'alice@example.com', '{_alice.Sub}')
            """);
        _worker = await InProcessWorker.StartAsync(_db.Url, [typeof(ActivityFunctions)]);
        _pages = await FrontendPages.StartAsync(origins: 2);
        _apiPort = PortAllocator.Free();
        // As an operator configures it: the frontend's origin in FRONTEND_URL, its app client in COGNITO_CLIENT_IDS.
        _api = await ServiceProcess.StartApiAsync(_db.Url, _apiPort, new Dictionary<string, string?>(moto.Environment)
        {
            [CognitoAuthenticationOptions.UserPoolIdKey] = _pool.PoolId,
            [CognitoAuthenticationOptions.ClientIdsKey] = _pool.AppClientId,
            ["FRONTEND_URL"] = FrontendPages.Origin(AllowedPort).AbsoluteUri.TrimEnd('/'),
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _api.DisposeAsync();
        await _pages.DisposeAsync();
        await _worker.DisposeAsync();
        await _db.DisposeAsync();
        _pool.Dispose();
    }

    [Fact]
    public async Task From_the_frontends_origin_the_browser_reads_the_feed_posts_and_then_sees_the_post_on_the_feed()
    {
        _pages.Html = Page("Hello from the browser");

        var report = await _pages.RunInChromiumAsync(AllowedPort, TimeSpan.FromSeconds(90));

        Assert.Equal(200, Status(report, "signed_out_feed"));
        Assert.Equal(202, Status(report, "post"));
        var post = report.GetProperty("post");
        Assert.StartsWith("/api/activities/", post.GetProperty("location").GetString(), StringComparison.Ordinal); // an exposed header
        Assert.Equal("alice", post.GetProperty("body").GetProperty("handle").GetString());
        Assert.Equal(200, Status(report, "feed"));
        Assert.Contains(report.GetProperty("feed").GetProperty("body").EnumerateArray(),
            a => a.GetProperty("message").GetString() == "Hello from the browser" && a.GetProperty("handle").GetString() == "alice");
        Assert.Equal(1L, await _db.ScalarAsync<long>($"""
            SELECT count(*) FROM activities a JOIN users u ON u.uuid = a.user_uuid
            WHERE a.message = 'Hello from the browser' AND u.cognito_user_id = '{_alice.Sub}'
            """));
    }

    [Fact]
    public async Task From_an_origin_not_in_FRONTEND_URL_the_browser_refuses_the_answers_and_nothing_is_queued()
    {
        _pages.Html = Page("Hello from elsewhere");

        var report = await _pages.RunInChromiumAsync(OtherPort, TimeSpan.FromSeconds(90));

        // The page sees what the frontend would: fetch rejects (the browser keeps the answer from the page).
        Assert.Equal("TypeError: Failed to fetch", Error(report, "signed_out_feed"));
        Assert.Equal("TypeError: Failed to fetch", Error(report, "post"));
        Assert.Equal("TypeError: Failed to fetch", Error(report, "feed"));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job"));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM activities WHERE message = 'Hello from elsewhere'"));
    }

    private static int Status(JsonElement report, string step) =>
        report.GetProperty(step).TryGetProperty("status", out var status)
            ? status.GetInt32()
            : throw new Xunit.Sdk.XunitException($"{step} failed in the browser: {report.GetProperty(step)}");

    private static string? Error(JsonElement report, string step) =>
        report.GetProperty(step).TryGetProperty("error", out var error) ? error.GetString() : $"answered {report.GetProperty(step)}";

    /// <summary>
    /// The frontend's requests as its code makes them (REACT_APP_BACKEND_URL, the access token Amplify's sign-in left in
    /// localStorage): the feed signed out, the post, then the feed until the post is on it. The page reports each step's
    /// status and body, or the error fetch rejected with, to its own origin.
    /// </summary>
    private string Page(string message) => $$"""
        <!doctype html>
        <html><head><meta charset="utf-8"><title>Cruddur</title></head><body><script>
        const backend_url = "http://127.0.0.1:{{_apiPort}}"; // process.env.REACT_APP_BACKEND_URL
        localStorage.setItem("access_token", {{JsonSerializer.Serialize(_alice.AccessToken)}});
        const message = {{JsonSerializer.Serialize(message)}};
        const report = {};

        async function step(name, request) {
          try { report[name] = await request(); } catch (e) { report[name] = { error: `${e.name}: ${e.message}` }; }
        }

        // HomeFeedPage.js, loadData()
        async function loadData(token) {
          const res = await fetch(`${backend_url}/api/activities/home`, {
            headers: { Authorization: `Bearer ${token}` },
            method: "GET"
          });
          return { status: res.status, body: await res.json() };
        }

        // ActivityForm.js, onsubmit()
        async function onsubmit() {
          const res = await fetch(`${backend_url}/api/activities`, {
            method: "POST",
            headers: {
              'Accept': 'application/json',
              'Authorization': `Bearer ${localStorage.getItem("access_token")}`,
              'Content-Type': 'application/json'
            },
            body: JSON.stringify({ user_handle: "alice", message: message, ttl: "1-day" })
          });
          return { status: res.status, location: res.headers.get("Location"), body: await res.json() };
        }

        (async () => {
          await step("signed_out_feed", () => loadData(null)); // signed out, the frontend sends "Bearer null"
          await step("post", onsubmit);
          const deadline = Date.now() + 30000;
          do {
            await step("feed", () => loadData(localStorage.getItem("access_token")));
            if (report.feed.error || report.feed.body.some(a => a.message === message)) break;
            await new Promise(resolve => setTimeout(resolve, 250));
          } while (Date.now() < deadline);
          await fetch("/report", { method: "POST", body: JSON.stringify(report) });
        })();
        </script></body></html>
        """;
}

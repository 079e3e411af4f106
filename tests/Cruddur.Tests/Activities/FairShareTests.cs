using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Cruddur.Api.Authentication;
using Cruddur.Api.RateLimiting;
using Cruddur.Tests.Fixtures;
using Cruddur.Worker.Activities;

namespace Cruddur.Tests.Activities;

/// <summary>
/// A fair share per poster: a token bucket per signed-in user (per client address for anonymous posts), answered 429
/// with Retry-After past it and nothing queued; and the group commit's bound on waiting posts, answered 503.
/// </summary>
public sealed class FairShareTests(PostgresServer server, MotoServer moto)
{
    [Fact]
    public async Task A_user_past_their_bucket_gets_429_with_Retry_After_nothing_is_queued_and_another_user_still_posts()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        using var pool = await MotoCognito.CreateAsync(moto);
        var alice = await pool.SignUpAndSignInAsync("alice");
        var bob = await pool.SignUpAndSignInAsync("bob");
        await db.ExecuteAsync($"""
            INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES
              ('Alice', 'alice', 'alice@example.com', '{alice.Sub}'), ('Bob', 'bob', 'bob@example.com', '{bob.Sub}')
            """);
        await using var api = new ApiFactory(db.Url, new Dictionary<string, string?>(moto.Environment)
        {
            [CognitoAuthenticationOptions.UserPoolIdKey] = pool.PoolId,
            [CognitoAuthenticationOptions.ClientIdsKey] = pool.AppClientId,
            [PostRateLimitOptions.PerSecondKey] = "1",
            [PostRateLimitOptions.BurstKey] = "3",
        });
        using var http = api.CreateClient();
        await http.GetAsync(new Uri("/api/activities/home", UriKind.Relative)); // the pipeline compiled before the clock matters

        var (answers, elapsed) = await BurstAsync(8, i => $"alice {i}", message => PostAsync(http, alice.AccessToken, message));
        var other = await PostAsync(http, bob.AccessToken, "bob, meanwhile");

        // The bucket holds 3 and refills 1 a second: at most 3 plus one a second began, and never all 8.
        var accepted = answers.Count(a => a.Response.StatusCode == HttpStatusCode.Accepted);
        var refused = answers.Where(a => a.Response.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.InRange(accepted, 3, 3 + (int)Math.Ceiling(elapsed.TotalSeconds));
        Assert.Equal(answers.Count, accepted + refused.Count);
        Assert.All(refused, r =>
        {
            Assert.Equal("application/problem+json", r.Response.Content.Headers.ContentType?.MediaType);
            Assert.InRange(r.Response.Headers.RetryAfter?.Delta ?? TimeSpan.Zero, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2));
        });
        Assert.Equal(HttpStatusCode.Accepted, other.StatusCode); // bob has a bucket of his own
        // Every post that got a 202 is in a committed job (the 202 waits for that); no refused one is in any.
        foreach (var (message, response) in answers)
        {
            var queued = await db.ScalarAsync<long>($"SELECT count(*) FROM hangfire.job WHERE arguments::text LIKE '%{message}%'");
            Assert.Equal(response.StatusCode == HttpStatusCode.Accepted ? 1L : 0L, queued);
        }

        await Task.Delay(TimeSpan.FromSeconds(1.2)); // the bucket refills: a poster who waits as told gets in again
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(http, alice.AccessToken, "alice, later")).StatusCode);
    }

    [Fact]
    public async Task Anonymous_posts_share_a_bucket_per_client_address()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var port = PortAllocator.Free();
        await using var api = await ServiceProcess.StartApiAsync(db.Url, port, new Dictionary<string, string?>
        {
            [CognitoAuthenticationOptions.AllowAnonymousPostsKey] = "true",
            [PostRateLimitOptions.PerSecondKey] = "1",
            [PostRateLimitOptions.BurstKey] = "2",
        });
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        await http.GetAsync(new Uri("/api/activities/home", UriKind.Relative));

        // Two handles, one address: one bucket of 2, refilled 1 a second.
        var (answers, elapsed) = await BurstAsync(6, i => $"anonymous {i}", message => PostAsync(http, null, message, message.EndsWith('0') ? "bayko" : "andrewbrown"));

        var accepted = answers.Count(a => a.Response.StatusCode == HttpStatusCode.Accepted);
        Assert.InRange(accepted, 2, 2 + (int)Math.Ceiling(elapsed.TotalSeconds));
        Assert.Contains(answers, a => a.Response.StatusCode == HttpStatusCode.TooManyRequests && a.Response.Headers.RetryAfter is not null);
        foreach (var (message, response) in answers)
        {
            var queued = await db.ScalarAsync<long>($"SELECT count(*) FROM hangfire.job WHERE arguments::text LIKE '%{message}%'");
            Assert.Equal(response.StatusCode == HttpStatusCode.Accepted ? 1L : 0L, queued);
        }
    }

    [Fact]
    public async Task Past_the_batchers_bound_a_post_gets_503_with_Retry_After_and_the_waiting_one_is_still_stored()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var worker = await InProcessWorker.StartAsync(db.Url, [typeof(ActivityFunctions)]);
        // One post may wait, and a lone post waits 6 s for company: the second one arrives while the first waits.
        await using var api = new ApiFactory(db.Url, new Dictionary<string, string?>
        {
            ["ACTIVITY_BATCH_MAX_PENDING"] = "1",
            ["ACTIVITY_BATCH_LINGER_MS"] = "6000",
        });
        using var http = api.CreateClient();
        await http.GetAsync(new Uri("/api/activities/home", UriKind.Relative)); // the pipeline compiled before the clock matters

        var waiting = PostAsync(http, null, "waits its turn", "bayko");
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.False(waiting.IsCompleted, "the first post should still be waiting for its batch");
        var refused = await PostAsync(http, null, "one too many", "bayko");
        var accepted = await waiting;

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(1), refused.Headers.RetryAfter?.Delta);
        Assert.Contains("ACTIVITY_BATCH_MAX_PENDING", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        await Eventually.ReachesAsync(() => db.ScalarAsync<long>("SELECT count(*) FROM activities WHERE message = 'waits its turn'"),
            count => count == 1, "the waiting post stored");
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job WHERE arguments::text LIKE '%one too many%'"));
    }

    /// <summary>Sends <paramref name="count"/> posts at once; each one's message and answer, and how long the burst took.</summary>
    private static async Task<(List<(string Message, HttpResponseMessage Response)> Answers, TimeSpan Elapsed)> BurstAsync(
        int count, Func<int, string> message, Func<string, Task<HttpResponseMessage>> post)
    {
        var messages = Enumerable.Range(0, count).Select(message).ToList();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var responses = await Task.WhenAll(messages.Select(post));
        return ([.. messages.Zip(responses)], clock.Elapsed);
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient http, string? accessToken, string message, string? handle = null)
    {
        var body = handle is null
            ? $$"""{"message":"{{message}}","ttl":"1-day"}"""
            : $$"""{"user_handle":"{{handle}}","message":"{{message}}","ttl":"1-day"}""";
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/activities") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (accessToken is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        }
        return await http.SendAsync(request);
    }
}

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

        var allowed = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            allowed.Add((await PostAsync(http, alice.AccessToken, $"alice {i}")).StatusCode);
        }
        var refused = await PostAsync(http, alice.AccessToken, "alice flooding");
        var other = await PostAsync(http, bob.AccessToken, "bob, meanwhile");

        Assert.All(allowed, status => Assert.Equal(HttpStatusCode.Accepted, status));
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.InRange(refused.Headers.RetryAfter?.Delta ?? TimeSpan.Zero, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2));
        Assert.Equal(HttpStatusCode.Accepted, other.StatusCode); // bob has a bucket of his own
        // Every post that got a 202 is in a committed job (the 202 waits for that); the refused one is in none.
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job WHERE arguments::text LIKE '%alice flooding%'"));
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job WHERE arguments::text LIKE '%bob, meanwhile%'"));

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

        var first = await PostAsync(http, null, "one", "bayko");
        var second = await PostAsync(http, null, "two", "andrewbrown"); // another handle, the same address
        var third = await PostAsync(http, null, "three", "bayko");

        Assert.Equal((HttpStatusCode.Accepted, HttpStatusCode.Accepted), (first.StatusCode, second.StatusCode));
        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        Assert.NotNull(third.Headers.RetryAfter);
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job WHERE arguments::text LIKE '%three%'"));
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

using System.Text.Json;
using System.Net;
using System.Text;
using Cruddur.Api.Activities;
using Cruddur.Tests.Fixtures;

namespace Cruddur.Tests.Activities;

/// <summary>POST /api/activities with an Idempotency-Key: a retry answers the first 202 and never stores twice.</summary>
public sealed class IdempotencyKeyTests(PostgresServer server) : IAsyncLifetime
{
    private const string Post = """{"user_handle":"andrewbrown","message":"Once only","ttl":"1-day"}""";

    private ActivitiesStack _stack = null!;

    public async ValueTask InitializeAsync() => _stack = await ActivitiesStack.StartAsync(server);

    public ValueTask DisposeAsync() => _stack.DisposeAsync();

    [Fact]
    public async Task The_same_key_answers_the_first_202_again_and_stores_one_activity()
    {
        var first = await PostAsync(Post, "key-1");
        var second = await PostAsync(Post, "key-1");

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, second.StatusCode);
        Assert.Equal(first.Headers.Location, second.Headers.Location);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await second.Content.ReadAsStringAsync());
        Assert.Equal("true", second.Headers.GetValues("Idempotent-Replayed").Single());
        await WaitForStoredAsync(1);
        Assert.Equal(1, await CountJobsAsync()); // the replay enqueued nothing
    }

    [Fact]
    public async Task A_retry_after_the_Api_died_before_recording_the_key_still_stores_one_activity()
    {
        var first = await PostAsync(Post, "crash-key");
        // As if the Api had died after the job committed and before the key was recorded.
        await _stack.Db.ExecuteAsync("DELETE FROM public.idempotency_keys");

        var retry = await PostAsync(Post, "crash-key");

        Assert.Equal(HttpStatusCode.Accepted, retry.StatusCode);
        Assert.Equal(first.Headers.Location, retry.Headers.Location); // the same uuid, derived from (handle, key)
        Assert.Equal(2, await CountJobsAsync());
        await WaitForJobsDoneAsync();
        Assert.Equal(1, await CountStoredAsync());
    }

    [Fact]
    public async Task Different_keys_make_different_activities_and_the_key_is_scoped_to_the_handle()
    {
        await PostAsync(Post, "a");
        await PostAsync(Post, "b");
        var other = await PostAsync("""{"user_handle":"bayko","message":"Once only","ttl":"1-day"}""", "a");

        Assert.Equal(HttpStatusCode.Accepted, other.StatusCode);
        await WaitForStoredAsync(3);
    }

    [Fact]
    public async Task A_key_reused_with_another_post_is_refused_with_422()
    {
        await PostAsync(Post, "same");
        var reused = await PostAsync("""{"user_handle":"andrewbrown","message":"Something else","ttl":"1-day"}""", "same");

        Assert.Equal(HttpStatusCode.UnprocessableEntity, reused.StatusCode);
        Assert.Equal("application/problem+json", reused.Content.Headers.ContentType?.MediaType);
        Assert.Equal("Idempotency-Key reused", JsonDocument.Parse(await reused.Content.ReadAsStringAsync()).RootElement.GetProperty("title").GetString());
    }

    [Fact]
    public async Task A_key_older_than_24_hours_may_be_used_again_for_a_new_activity()
    {
        var first = await PostAsync(Post, "old");
        await _stack.Db.ExecuteAsync("UPDATE public.idempotency_keys SET created_at = created_at - interval '25 hours'");

        var again = await PostAsync(Post, "old");

        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        Assert.NotEqual(first.Headers.Location, again.Headers.Location);
        await WaitForStoredAsync(2);
    }

    [Theory]
    [InlineData("has space")]
    [InlineData("tab\there")]
    [InlineData("é-not-ascii")]
    [InlineData("256")]
    public async Task A_malformed_key_is_a_400_and_nothing_is_queued(string key)
    {
        key = key == "256" ? new string('k', IdempotencyKeys.MaxKeyLength + 1) : key;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/activities") { Content = new StringContent(Post, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation(IdempotencyKeys.HeaderName, key);

        var response = await _stack.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(0, await CountJobsAsync());
    }

    [Fact]
    public async Task Two_key_headers_are_a_400()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/activities") { Content = new StringContent(Post, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation(IdempotencyKeys.HeaderName, ["one", "two"]);

        Assert.Equal(HttpStatusCode.BadRequest, (await _stack.Http.SendAsync(request)).StatusCode);
    }

    [Fact]
    public async Task Without_a_key_a_bad_body_gets_the_usual_answers()
    {
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync("{not json", "bad-body")).StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, (await PostAsync("""{"message":"x","ttl":"1-day"}""", "no-handle")).StatusCode);
        Assert.Equal(0, await CountJobsAsync());
    }

    [Fact]
    public void The_uuid_is_a_version_5_uuid_that_depends_on_handle_key_and_generation()
    {
        var uuid = IdempotencyKeys.DeterministicUuid("andrewbrown", "k", 0);

        Assert.Equal(5, uuid.Version);
        Assert.Equal(uuid, IdempotencyKeys.DeterministicUuid("andrewbrown", "k", 0));
        Assert.NotEqual(uuid, IdempotencyKeys.DeterministicUuid("bayko", "k", 0));
        Assert.NotEqual(uuid, IdempotencyKeys.DeterministicUuid("andrewbrown", "k", 1));
    }

    private async Task<HttpResponseMessage> PostAsync(string body, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/activities") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add(IdempotencyKeys.HeaderName, key);
        var response = await _stack.Http.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    private Task<long> CountJobsAsync() => _stack.Db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job");

    // The seed holds one activity; count only the ones posted here.
    private Task<long> CountStoredAsync() => _stack.Db.ScalarAsync<long>("SELECT count(*) FROM public.activities WHERE message = 'Once only'");

    // Every job enqueued so far has run to success: a count of stored rows read before that proves nothing.
    private async Task WaitForJobsDoneAsync() => await Eventually.ReachesAsync(
        () => _stack.Db.ScalarAsync<string>("SELECT coalesce(string_agg(id || ' ' || coalesce(statename, 'none'), ', '), '') FROM hangfire.job WHERE statename IS DISTINCT FROM 'Succeeded'"),
        unfinished => unfinished.Length == 0, "every job succeeded (listed: the jobs that have not)");

    private async Task WaitForStoredAsync(long expected)
    {
        await WaitForJobsDoneAsync();
        Assert.Equal(expected, await CountStoredAsync());
    }
}

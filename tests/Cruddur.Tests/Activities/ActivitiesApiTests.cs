using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Cruddur.Api.Jobs;
using Cruddur.Shared.Activities;
using Cruddur.Tests.Fixtures;

namespace Cruddur.Tests.Activities;

/// <summary>POST /api/activities and the reads, through HTTP, with the Worker's functions running.</summary>
public sealed class ActivitiesApiTests(PostgresServer server) : IAsyncLifetime
{
    private ActivitiesStack _stack = null!;

    public async ValueTask InitializeAsync() => _stack = await ActivitiesStack.StartAsync(server);

    public ValueTask DisposeAsync() => _stack.DisposeAsync();

    [Fact]
    public async Task A_valid_post_is_accepted_then_stored_readable_and_on_the_feed()
    {
        var response = await PostAsync("""{"user_handle":"andrewbrown","message":"Hello, Cruddur!","ttl":"7-days"}""");

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var accepted = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        var uuid = accepted.GetProperty("uuid").GetGuid();
        Assert.Equal($"/api/activities/{uuid}", response.Headers.Location?.OriginalString);
        Assert.Equal(
            ["uuid", "handle", "display_name", "message", "created_at", "expires_at", "job_id"],
            accepted.EnumerateObject().Select(p => p.Name));
        Assert.Equal(("andrewbrown", "Andrew Brown", "Hello, Cruddur!"),
            (accepted.GetProperty("handle").GetString(), accepted.GetProperty("display_name").GetString(), accepted.GetProperty("message").GetString()));
        var createdAt = accepted.GetProperty("created_at").GetDateTimeOffset();
        Assert.Equal(TimeSpan.FromDays(7), accepted.GetProperty("expires_at").GetDateTimeOffset() - createdAt);

        var stored = await WaitForActivityAsync(response.Headers.Location!);
        foreach (var field in new[] { "uuid", "handle", "display_name", "message" })
        {
            Assert.Equal(accepted.GetProperty(field).GetString(), stored.GetProperty(field).GetString());
        }
        Assert.Equal(createdAt, stored.GetProperty("created_at").GetDateTimeOffset());
        Assert.Equal(accepted.GetProperty("expires_at").GetDateTimeOffset(), stored.GetProperty("expires_at").GetDateTimeOffset());

        var feed = await _stack.Http.GetFromJsonAsync<JsonElement>("/api/activities/home");
        Assert.Equal(uuid, feed[0].GetProperty("uuid").GetGuid());
        // The row is committed a moment before Hangfire records the job's success.
        await HangfireJobs.WaitForFinalStateAsync(_stack.Db.DataSource, accepted.GetProperty("job_id").GetString()!);
        var job = await _stack.Http.GetFromJsonAsync<JsonElement>($"/api/jobs/{accepted.GetProperty("job_id").GetString()}");
        Assert.Equal("succeeded", job.GetProperty("state").GetString());
    }

    [Fact]
    public async Task An_accepted_posts_job_names_its_author_by_the_uuid_the_Api_found()
    {
        var response = await PostAsync("""{"user_handle":"andrewbrown","message":"by uuid","ttl":"1-day"}""");

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var jobId = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("job_id").GetString();
        // Hangfire stores each argument serialized: the payload is a JSON string holding the batch's JSON.
        var argument = JsonDocument.Parse(await _stack.Db.ScalarAsync<string>($"SELECT arguments->>1 FROM hangfire.job WHERE id = {jobId}"));
        var payload = JsonDocument.Parse(argument.RootElement.GetString()!).RootElement;
        var post = payload.EnumerateArray().Single(p => p.GetProperty("message").GetString() == "by uuid");
        Assert.Equal("00000000-0000-4000-8000-000000000001", post.GetProperty("user_uuid").GetString()); // the seed's @andrewbrown
    }

    [Theory]
    [InlineData("""{"user_handle":"","message":"hi","ttl":"1-day"}""", "user_handle_blank")]
    [InlineData("""{"user_handle":"nobody","message":"hi","ttl":"1-day"}""", "user_handle_unknown")]
    [InlineData("""{"user_handle":"bayko","message":"   ","ttl":"1-day"}""", "message_blank")]
    [InlineData("""{"user_handle":"bayko","ttl":"1-day"}""", "message_blank")]
    [InlineData("""{"user_handle":"bayko","message":"hi","ttl":"2-days"}""", "ttl_invalid")]
    [InlineData("""{"user_handle":"bayko","message":"hi","ttl":" "}""", "ttl_blank")]
    [InlineData("""{"user_handle":"bayko","message":"hi"}""", "ttl_blank")]
    [InlineData("""{"user_handle":null,"message":null,"ttl":null}""", "user_handle_blank,message_blank,ttl_blank")]
    [InlineData("""{}""", "user_handle_blank,message_blank,ttl_blank")]
    [InlineData("""{"user_handle":"nobody","message":"","ttl":"forever"}""", "user_handle_unknown,message_blank,ttl_invalid")]
    public async Task Every_validation_error_is_reported_with_what_was_sent_and_nothing_is_queued(string body, string errors)
    {
        var response = await PostAsync(body);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var rejected = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(errors.Split(','), rejected.GetProperty("errors").EnumerateArray().Select(e => e.GetString()));
        var sent = JsonDocument.Parse(body).RootElement;
        Assert.Equal(Field(sent, "user_handle"), rejected.GetProperty("data").GetProperty("handle").GetString());
        Assert.Equal(Field(sent, "message"), rejected.GetProperty("data").GetProperty("message").GetString());
        Assert.Equal(0L, await _stack.Db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job"));
    }

    [Theory]
    [InlineData("a", 280, HttpStatusCode.Accepted)]
    [InlineData("a", 281, HttpStatusCode.UnprocessableEntity)]
    [InlineData("👍🏽", 280, HttpStatusCode.Accepted)] // an emoji with a skin tone: one character, four UTF-16 units
    [InlineData("👍🏽", 281, HttpStatusCode.UnprocessableEntity)]
    [InlineData("e\u0301", 280, HttpStatusCode.Accepted)] // e + combining acute accent: one character as a reader sees it
    [InlineData("e\u0301", 281, HttpStatusCode.UnprocessableEntity)]
    public async Task A_message_may_have_280_characters_as_a_person_counts_them(string character, int count, HttpStatusCode expected)
    {
        var message = string.Concat(Enumerable.Repeat(character, count));

        var response = await PostAsync(JsonSerializer.Serialize(new { user_handle = "bayko", message, ttl = "1-hour" }));

        Assert.Equal(expected, response.StatusCode);
        if (expected == HttpStatusCode.UnprocessableEntity)
        {
            Assert.Contains("message_exceed_max_chars", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("application/json", "{not json", "Malformed JSON")]
    [InlineData("application/json", "", "Malformed JSON")]
    [InlineData("application/json", "null", "must be a JSON object")]
    [InlineData("application/json", """["andrewbrown","hi","1-day"]""", "Malformed JSON")]
    [InlineData("application/json", """{"user_handle":"andrewbrown","message":5,"ttl":"1-day"}""", "message is not valid here")]
    [InlineData("application/json", """{"user_handle":{"a":1},"message":"hi","ttl":"1-day"}""", "user_handle is not valid here")]
    [InlineData("application/json", """{"user_handle":"andrewbrown","message":"hi","ttl":["1-day"]}""", "ttl is not valid here")]
    [InlineData("text/plain", """{"user_handle":"andrewbrown","message":"hi","ttl":"1-day"}""", "Content-Type: application/json")]
    [InlineData("application/x-www-form-urlencoded", "user_handle=andrewbrown&message=hi&ttl=1-day", "Content-Type: application/json")]
    public async Task A_body_that_is_not_a_json_post_gets_400_problem_details_and_nothing_is_queued(string contentType, string body, string detail)
    {
        var response = await _stack.Http.PostAsync(new Uri("/api/activities", UriKind.Relative), new StringContent(body, Encoding.UTF8, contentType));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(detail, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(0L, await _stack.Db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job"));
    }

    [Fact]
    public async Task Invalid_utf8_gets_400_and_an_oversized_body_413()
    {
        var invalid = new ByteArrayContent([.. "{\"user_handle\":\"bayko\",\"message\":\""u8.ToArray(), 0xC3, 0x28, .. "\",\"ttl\":\"1-day\"}"u8.ToArray()]);
        invalid.Headers.ContentType = new("application/json");
        var huge = JsonSerializer.Serialize(new { user_handle = "bayko", message = new string('x', 100_000), ttl = "1-day" });

        var invalidResponse = await _stack.Http.PostAsync(new Uri("/api/activities", UriKind.Relative), invalid);
        var hugeResponse = await PostAsync(huge);

        Assert.Equal(HttpStatusCode.BadRequest, invalidResponse.StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, hugeResponse.StatusCode);
        Assert.Equal("application/problem+json", hugeResponse.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task A_message_full_of_quotes_and_sql_is_stored_verbatim()
    {
        const string message = "Robert'); DROP TABLE activities;-- \"quoted\" \\ $1 %s {0} <b>bold</b> 🦆";

        var response = await PostAsync(JsonSerializer.Serialize(new { user_handle = "bayko", message, ttl = "1-day" }));

        var stored = await WaitForActivityAsync(response.Headers.Location!);
        Assert.Equal(message, stored.GetProperty("message").GetString());
        Assert.Equal(2L, await _stack.Db.ScalarAsync<long>("SELECT count(*) FROM activities"));
    }

    [Fact]
    public async Task Paging_through_250_activities_100_at_a_time_returns_each_once_newest_first_and_skips_expired_ones()
    {
        await _stack.Db.ExecuteAsync("DELETE FROM activities");
        await _stack.Db.ExecuteAsync("""
            INSERT INTO activities (user_uuid, message, created_at, expires_at)
            SELECT (SELECT uuid FROM users WHERE handle = 'bayko'), 'post ' || n,
                   now() - n * interval '1 second',
                   CASE WHEN n % 10 = 0 THEN now() - interval '1 minute' ELSE now() + interval '1 day' END
            FROM generate_series(1, 278) n
            """); // 27 of them (n = 10, 20, ..., 270) have expired: 251 left... minus one more below
        await _stack.Db.ExecuteAsync("UPDATE activities SET expires_at = NULL WHERE message = 'post 1'");
        await _stack.Db.ExecuteAsync("DELETE FROM activities WHERE message = 'post 2'");

        var seen = new List<(DateTimeOffset CreatedAt, string Message)>();
        var next = "/api/activities/home?limit=100";
        var pages = 0;
        while (next is not null && pages++ < 10)
        {
            var response = await _stack.Http.GetAsync(new Uri(next, UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var page = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(JsonValueKind.Array, page.ValueKind);
            seen.AddRange(page.EnumerateArray().Select(a => (a.GetProperty("created_at").GetDateTimeOffset(), a.GetProperty("message").GetString()!)));
            next = response.Headers.TryGetValues("Link", out var link) ? link.Single().Split('<', '>')[1] : null;
        }

        Assert.Equal(250, seen.Count);
        Assert.Equal(250, seen.Select(s => s.Message).Distinct().Count());
        Assert.Equal(seen.OrderByDescending(s => s.CreatedAt).Select(s => s.Message), seen.Select(s => s.Message));
        Assert.DoesNotContain(seen, s => s.Message is "post 10" or "post 270" or "post 2");
        Assert.Contains(seen, s => s.Message == "post 1");
    }

    [Theory]
    [InlineData("/api/activities/home?limit=0", "limit must be a whole number from 1 to 100")]
    [InlineData("/api/activities/home?limit=101", "limit must be a whole number from 1 to 100")]
    [InlineData("/api/activities/home?limit=ten", "limit must be a whole number from 1 to 100")]
    [InlineData("/api/activities/home?before=not-a-cursor", "before must be a cursor")]
    public async Task A_bad_page_request_gets_400_saying_why(string url, string detail)
    {
        var response = await _stack.Http.GetAsync(new Uri(url, UriKind.Relative));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(detail, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_feed_defaults_to_20_and_an_unknown_activity_is_404()
    {
        await _stack.Db.ExecuteAsync("""
            INSERT INTO activities (user_uuid, message) SELECT (SELECT uuid FROM users WHERE handle = 'bayko'), 'p' || n FROM generate_series(1, 30) n
            """);

        var feed = await _stack.Http.GetFromJsonAsync<JsonElement>("/api/activities/home");
        var missing = await _stack.Http.GetAsync(new Uri($"/api/activities/{Guid.CreateVersion7()}", UriKind.Relative));

        Assert.Equal(20, feed.GetArrayLength());
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task The_feed_is_served_from_memory_for_FEED_CACHE_MS_then_shows_what_was_stored()
    {
        await using var api = new ApiFactory(_stack.Db.Url, new Dictionary<string, string?> { ["FEED_CACHE_MS"] = "5000" });
        using var http = api.CreateClient();
        async Task<string?> NewestAsync(string query = "") =>
            (await http.GetFromJsonAsync<JsonElement>($"/api/activities/home{query}"))[0].GetProperty("message").GetString();
        const string Insert = "INSERT INTO activities (user_uuid, message) VALUES ((SELECT uuid FROM users WHERE handle = 'bayko'), @message)";
        await _stack.Db.ExecuteAsync(Insert.Replace("@message", "'older'", StringComparison.Ordinal));

        var first = await NewestAsync();
        await _stack.Db.ExecuteAsync(Insert.Replace("@message", "'newer'", StringComparison.Ordinal));
        var again = await NewestAsync();
        var otherPage = await NewestAsync("?limit=5");
        var later = await Eventually.ReachesAsync(() => NewestAsync(), newest => newest == "newer", "the stored activity on the cached feed");

        Assert.Equal("older", first);
        Assert.Equal("older", again); // the same page, from memory: no query ran
        Assert.Equal("newer", otherPage); // another page is another entry
        Assert.Equal("newer", later);
    }

    [Fact]
    public async Task Job_status_says_succeeded_failed_or_404_and_never_the_handle_its_error_names()
    {
        var succeeded = await _stack.Worker.Jobs.EnqueueAsync(new CreateActivityJob(Guid.CreateVersion7(), "bayko", "ok", DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1)));
        var failed = await _stack.Worker.Jobs.EnqueueAsync(new CreateActivityJob(Guid.CreateVersion7(), "gone", "lost", DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1)));
        await HangfireJobs.WaitForFinalStateAsync(_stack.Db.DataSource, succeeded);
        await HangfireJobs.WaitForFinalStateAsync(_stack.Db.DataSource, failed);

        var ok = await _stack.Http.GetFromJsonAsync<JsonElement>($"/api/jobs/{succeeded}");
        var bad = await _stack.Http.GetFromJsonAsync<JsonElement>($"/api/jobs/{failed}");
        var unknown = await _stack.Http.GetAsync(new Uri("/api/jobs/999999", UriKind.Relative));
        var nonsense = await _stack.Http.GetAsync(new Uri("/api/jobs/drop-table", UriKind.Relative));

        Assert.Equal("succeeded", ok.GetProperty("state").GetString());
        Assert.Equal("failed", bad.GetProperty("state").GetString());
        // Anyone may ask for any job: the error, which names the handle, stays in the dashboard and the logs.
        Assert.Equal(JobsApi.FailedReason, bad.GetProperty("reason").GetString());
        Assert.DoesNotContain("gone", bad.GetRawText(), StringComparison.Ordinal);
        Assert.Contains("No user has the handle 'gone'", await _stack.Db.ScalarAsync<string>(
            $"SELECT data->>'ExceptionMessage' FROM hangfire.state WHERE jobid = {failed} AND name = 'Failed'"), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, nonsense.StatusCode);
    }

    [Fact]
    public async Task The_database_password_never_appears_in_the_logs()
    {
        await PostAsync("""{"user_handle":"andrewbrown","message":"hi","ttl":"1-day"}""");
        await PostAsync("""{"user_handle":"nobody","message":"hi","ttl":"1-day"}""");
        var failing = await _stack.Worker.Jobs.EnqueueAsync(new CreateActivityJob(Guid.CreateVersion7(), "gone", "lost", DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1)));
        // Scan only once the Worker has logged the failure: the error path is the one most likely to print a connection string.
        await Eventually.ReachesAsync(() => _stack.Worker.Logs.Lines.Count(l => l.Message.Contains("failed permanently", StringComparison.Ordinal) && l.Message.Contains($"(job {failing})", StringComparison.Ordinal)),
            logged => logged == 1, $"the Worker's error line for job {failing}");

        Assert.NotEmpty(_stack.Api.Logs.Lines);
        var everything = string.Join('\n', _stack.Api.Logs.Lines.Concat(_stack.Worker.Logs.Lines).Select(l => $"{l.Message} {l.Exception}"));
        Assert.DoesNotContain(PostgresServer.Password, everything, StringComparison.Ordinal);
        Assert.DoesNotContain(Uri.EscapeDataString(PostgresServer.Password), everything, StringComparison.Ordinal);
    }

    private Task<HttpResponseMessage> PostAsync(string json) =>
        _stack.Http.PostAsync(new Uri("/api/activities", UriKind.Relative), new StringContent(json, Encoding.UTF8, "application/json"));

    private async Task<JsonElement> WaitForActivityAsync(Uri location)
    {
        var response = await Eventually.ReachesAsync(() => _stack.Http.GetAsync(location), r => r.StatusCode != HttpStatusCode.NotFound, $"{location} stored");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode); // 404 until stored, then 200: nothing else
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
    }

    private static string? Field(JsonElement body, string name) =>
        body.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

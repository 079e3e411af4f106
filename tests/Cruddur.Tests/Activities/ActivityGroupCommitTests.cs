using System.Net;
using System.Text;
using System.Text.Json;
using Cruddur.Shared.Activities;
using Cruddur.Shared.Jobs;
using Cruddur.Tests.Fixtures;
using Cruddur.Worker.Activities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Npgsql;

namespace Cruddur.Tests.Activities;

/// <summary>The Api's group commit: concurrent posts share one job, and each 202 comes only after that job is committed.</summary>
public sealed class ActivityGroupCommitTests(PostgresServer server) : IAsyncLifetime
{
    // By default a batch closes when it is full, not by time: posts sent together share it however slowly the machine runs.
    private static Dictionary<string, string?> Batching(int size, int lingerMs = 120_000, int minIntervalMs = 20) => new()
    {
        ["ACTIVITY_BATCH_MAX_SIZE"] = size.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["ACTIVITY_BATCH_LINGER_MS"] = lingerMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["ACTIVITY_BATCH_MIN_INTERVAL_MS"] = minIntervalMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private TestDatabase _db = null!;

    public async ValueTask InitializeAsync() => _db = await TestDatabase.CreateAsync(server, seed: true);

    public async ValueTask DisposeAsync() => await _db.DisposeAsync();

    [Fact]
    public async Task Concurrent_posts_share_one_job_committed_before_their_202s_and_each_is_stored_once()
    {
        await using var api = new ApiFactory(_db.Url, Batching(20));
        using var http = api.CreateClient();

        var responses = await Task.WhenAll(Enumerable.Range(1, 20).Select(n => PostAsync(http, "bayko", $"post {n}")));

        var accepted = new List<JsonElement>();
        foreach (var response in responses)
        {
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            accepted.Add(body);
            // The job carrying this post is in Postgres by the time its 202 arrives (no Worker runs yet).
            Assert.Equal(1L, await _db.ScalarAsync<long>($"SELECT count(*) FROM hangfire.job WHERE id = {body.GetProperty("job_id").GetString()}"));
        }
        var jobIds = accepted.Select(a => a.GetProperty("job_id").GetString()).Distinct().ToList();
        Assert.Single(jobIds);
        Assert.Equal(20, accepted.Select(a => a.GetProperty("uuid").GetGuid()).Distinct().Count());

        await using var worker = await InProcessWorker.StartAsync(_db.Url, [typeof(ActivityFunctions)]);
        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(_db.DataSource, jobIds[0]!)).State);
        var uuids = string.Join(',', accepted.Select(a => $"'{a.GetProperty("uuid").GetGuid()}'"));
        Assert.Equal(20L, await _db.ScalarAsync<long>($"SELECT count(*) FROM activities WHERE uuid IN ({uuids})"));
    }

    [Fact]
    public async Task Posts_of_a_steady_stream_are_answered_at_their_commit_and_share_a_job_queued_once_the_interval_is_over()
    {
        // No linger, batches far from full, an interval a slow machine cannot blur.
        await using var api = new ApiFactory(_db.Url, Batching(500, lingerMs: 0, minIntervalMs: 4000));
        using var http = api.CreateClient();

        // The first post on a quiet Api is a job of its own, queued at once.
        var first = await JobIdAsync(await PostAsync(http, "bayko", "the first, on a quiet Api"));
        Assert.Equal(1L, await QueuedAsync(first));
        // The next ones come within the interval: each is answered at its own commit, into one open job.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var next = new List<string>();
        for (var n = 1; n <= 3; n++)
        {
            next.Add(await JobIdAsync(await PostAsync(http, "bayko", $"streamed {n}")));
        }
        var answered = clock.Elapsed;
        var open = Assert.Single(next.Distinct());
        Assert.NotEqual(first, open);
        Assert.True(answered < TimeSpan.FromMilliseconds(3000), $"three posts in a row took {answered.TotalMilliseconds:F0} ms to be answered");
        Assert.Equal(0L, await QueuedAsync(open)); // committed, but no Worker can fetch it yet
        // The job's payload (its second argument, a JSON string holding the array) carries all three.
        Assert.Equal(3L, await _db.ScalarAsync<long>(
            $"SELECT jsonb_array_length(((arguments ->> 1)::jsonb #>> '{{}}')::jsonb)::bigint FROM hangfire.job WHERE id = {open}"));

        // Once the interval is over, the job is on its queue, and a Worker stores its three posts.
        await WaitUntilAsync(async () => await QueuedAsync(open) == 1, TimeSpan.FromSeconds(30));
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(4000) - TimeSpan.FromMilliseconds(50), $"queued after {clock.Elapsed.TotalMilliseconds:F0} ms");
        await using var worker = await InProcessWorker.StartAsync(_db.Url, [typeof(ActivityFunctions)]);
        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(_db.DataSource, open)).State);
        Assert.Equal(3L, await _db.ScalarAsync<long>("SELECT count(*) FROM activities WHERE message LIKE 'streamed %'"));
    }

    [Fact]
    public async Task A_job_left_open_by_an_Api_that_died_is_queued_by_a_Worker_and_takes_no_more_posts()
    {
        await using var api = new ApiFactory(_db.Url);
        var jobs = api.Services.GetRequiredService<IJobQueue>();
        var now = DateTimeOffset.UtcNow;
        // What an Api's group commit leaves when it dies: a committed open job that no Worker can fetch.
        var open = jobs.OpenBatch<CreateActivityJob>([new(Guid.CreateVersion7(), "bayko", "left open", now, now.AddDays(1)) { UserUuid = await BaykoAsync() }], closing: null);
        // Opened a minute ago by the database's clock, by an Api whose own clock ran an hour ahead (its createdat).
        await _db.ExecuteAsync($"UPDATE hangfire.job SET expireat = expireat - interval '1 minute', createdat = createdat + interval '1 hour' WHERE id = {open}");

        await using var worker = await InProcessWorker.StartAsync(_db.Url, [typeof(ActivityFunctions)]);

        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(_db.DataSource, open)).State);
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM activities WHERE message = 'left open'"));
        // The Api, were it alive, finds its job closed and opens another for the next posts.
        Assert.False(jobs.AppendToBatch<CreateActivityJob>(open, [new(Guid.CreateVersion7(), "bayko", "too late", now, now.AddDays(1))]));
    }

    [Fact]
    public async Task Under_a_heavy_load_batches_wait_for_the_interval_and_are_jobs_of_their_own_until_a_batch_is_small_again()
    {
        // Batches of at most 4 gathered for 500 ms; a 3 s interval a slow machine cannot blur.
        await using var api = new ApiFactory(_db.Url, Batching(4, lingerMs: 500, minIntervalMs: 3000));
        using var http = api.CreateClient();
        await JobIdAsync(await PostAsync(http, "bayko", "on a quiet Api")); // a job of its own
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var open = await JobIdAsync(await PostAsync(http, "bayko", "a stream begins")); // opens the interval's job

        // Two together: half the maximum, a heavy load's batch. It waits for the interval after the previous commit began,
        // as jobs were paced before open jobs, and is a job of its own rather than an append.
        var two = await Task.WhenAll(Enumerable.Range(1, 2).Select(n => PostAsync(http, "bayko", $"heavy {n}")));
        var heavyAnswered = clock.Elapsed;
        var heavy = Assert.Single((await Task.WhenAll(two.Select(JobIdAsync))).Distinct());
        Assert.NotEqual(open, heavy);
        Assert.True(heavyAnswered >= TimeSpan.FromMilliseconds(3000) - TimeSpan.FromMilliseconds(50), $"the heavy batch was answered {heavyAnswered.TotalMilliseconds:F0} ms after the stream's post was sent");
        Assert.Equal(1L, await QueuedAsync(heavy));

        // The batch after a heavy one waits too, however small: under a heavy load the posts that come during a commit
        // would otherwise be committed at once, a small job each.
        var after = await JobIdAsync(await PostAsync(http, "bayko", "after the heavy batch"));
        var afterAnswered = clock.Elapsed;
        Assert.NotEqual(heavy, after);
        Assert.True(afterAnswered - heavyAnswered >= TimeSpan.FromMilliseconds(2500), $"the post after the heavy batch was answered {(afterAnswered - heavyAnswered).TotalMilliseconds:F0} ms after it");
        Assert.Equal(1L, await QueuedAsync(after));

        // That batch was small: the load is light again, and the next post is committed at once into an open job.
        var light = await JobIdAsync(await PostAsync(http, "bayko", "light again"));
        Assert.True(clock.Elapsed - afterAnswered < TimeSpan.FromMilliseconds(2500), $"the light post was answered {(clock.Elapsed - afterAnswered).TotalMilliseconds:F0} ms after the previous one");
        Assert.Equal(0L, await QueuedAsync(light));
    }

    [Fact]
    public async Task A_full_batch_is_committed_without_waiting_for_the_interval()
    {
        await using var api = new ApiFactory(_db.Url, Batching(5, minIntervalMs: 600_000));
        using var http = api.CreateClient();
        await Task.WhenAll(Enumerable.Range(1, 5).Select(n => PostAsync(http, "bayko", $"first batch {n}")));

        // Within ten minutes of the first commit's start, but full: committed at once (HttpClient gives up after 100 s).
        var responses = await Task.WhenAll(Enumerable.Range(1, 5).Select(n => PostAsync(http, "bayko", $"second batch {n}")));

        Assert.Single((await Task.WhenAll(responses.Select(JobIdAsync))).Distinct());
    }

    [Fact]
    public async Task When_the_batch_cannot_be_committed_every_post_in_it_gets_503_and_nothing_is_accepted()
    {
        await using var api = new ApiFactory(_db.Url, Batching(5),
            services => services.Replace(ServiceDescriptor.Singleton<IJobQueue, UnreachableJobQueue>()));
        using var http = api.CreateClient();

        var responses = await Task.WhenAll(Enumerable.Range(1, 5).Select(n => PostAsync(http, "bayko", $"post {n}")));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job"));
        // What the client reads: when to retry, and how to retry safely (a broken commit may have been stored).
        Assert.Equal(TimeSpan.FromSeconds(5), responses[0].Headers.RetryAfter?.Delta);
        var problem = System.Text.Json.Nodes.JsonNode.Parse(await responses[0].Content.ReadAsStringAsync())!;
        Assert.Equal("Database unavailable", (string?)problem["title"]);
        Assert.Contains("same Idempotency-Key", (string?)problem["detail"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_user_who_signs_up_can_post_at_once_because_unknown_handles_are_never_cached()
    {
        await using var api = new ApiFactory(_db.Url);
        using var http = api.CreateClient();

        var before = await PostAsync(http, "newcomer", "hello?");
        await _db.ExecuteAsync("INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES ('New Comer', 'newcomer', 'n@example.com', 'sub-newcomer')");
        var after = await PostAsync(http, "newcomer", "hello!");

        Assert.Equal(HttpStatusCode.UnprocessableEntity, before.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, after.StatusCode);
    }

    private Task<long> QueuedAsync(string jobId) => _db.ScalarAsync<long>($"SELECT count(*) FROM hangfire.jobqueue WHERE jobid = {jobId}");

    private Task<Guid> BaykoAsync() => _db.ScalarAsync<Guid>("SELECT uuid FROM users WHERE handle = 'bayko'");

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(waited.Elapsed < timeout, $"not so within {timeout.TotalSeconds} s");
            await Task.Delay(50);
        }
    }

    private static async Task<string> JobIdAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("job_id").GetString()!;
    }

    private static Task<HttpResponseMessage> PostAsync(HttpClient http, string handle, string message) =>
        http.PostAsync(new Uri("/api/activities", UriKind.Relative), new StringContent(
            JsonSerializer.Serialize(new { user_handle = handle, message, ttl = "1-day" }), Encoding.UTF8, "application/json"));

    private sealed class UnreachableJobQueue : IJobQueue
    {
        public Task<string> EnqueueAsync<T>(T job, CancellationToken cancellationToken = default)
            where T : notnull => throw Unreachable();

        public Task<string> EnqueueBatchAsync<T>(IReadOnlyCollection<T> jobs, CancellationToken cancellationToken = default)
            where T : notnull => throw Unreachable();

        public string EnqueueBatch<T>(IReadOnlyCollection<T> jobs)
            where T : notnull => throw Unreachable();

        public string OpenBatch<T>(IReadOnlyCollection<T> jobs, string? closing)
            where T : notnull => throw Unreachable();

        public bool AppendToBatch<T>(string jobId, IReadOnlyCollection<T> jobs)
            where T : notnull => throw Unreachable();

        public void CloseBatch<T>(string jobId)
            where T : notnull => throw Unreachable();

        private static NpgsqlException Unreachable() => new("Connection refused", new IOException("Connection refused"));
    }
}

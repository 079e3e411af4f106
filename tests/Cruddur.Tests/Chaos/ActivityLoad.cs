using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Cruddur.Api.Activities;

namespace Cruddur.Tests.Chaos;

/// <summary>
/// Posts activities as a careful client does: each post has its own Idempotency-Key, and a post that got no
/// answer (a killed Api, a reset connection) or a 503 is sent again with the same key, to the next Api, until
/// it is answered 202 or the deadline passes. Counts every kind of answer on the way. With <c>authors</c> the posts are
/// signed in: post n is sent by author n mod their count, with that user's access token and no handle in the body.
/// With <c>pause</c> each client waits that long after each answered post: a steady load instead of the most the machine takes.
/// </summary>
public sealed class ActivityLoad(IReadOnlyList<Uri> apis, string tag, int posts, int concurrency = 8, IReadOnlyList<string>? authors = null, TimeSpan pause = default)
{
    private readonly ConcurrentDictionary<int, Guid> _accepted = new();
    private readonly ConcurrentQueue<string> _unexpected = new();
    private int _started;
    private int _unanswered;
    private int _unavailable;
    private int _missingRetryAfter;
    private int _serverErrors;
    private int _replays;
    private long _slowestTicks;

    public string Tag => tag;

    /// <summary>Posts sent at least once.</summary>
    public int Sent => Math.Min(Volatile.Read(ref _started), posts);

    /// <summary>Post number → the uuid its 202 promised.</summary>
    public IReadOnlyDictionary<int, Guid> Accepted => _accepted;

    /// <summary>Attempts that got no HTTP answer at all (connection refused or reset, timeout).</summary>
    public int Unanswered => _unanswered;

    /// <summary>503 answers (database unavailable), each to be retried.</summary>
    public int Unavailable => _unavailable;

    public int MissingRetryAfter => _missingRetryAfter;

    /// <summary>5xx answers other than 503: each is a bug.</summary>
    public int ServerErrors => _serverErrors;

    /// <summary>202s marked Idempotent-Replayed: a retry whose first attempt had been accepted.</summary>
    public int Replays => _replays;

    public TimeSpan Slowest => TimeSpan.FromTicks(Interlocked.Read(ref _slowestTicks));

    /// <summary>Answers no post should get (a 4xx, or a 5xx other than 503), with their bodies.</summary>
    public IReadOnlyList<string> Unexpected => [.. _unexpected];

    public string Message(int post) => $"{tag} #{post}";

    /// <summary>Posts until every post is sent or <paramref name="stopSending"/> fires; posts in flight are finished.</summary>
    public async Task RunAsync(CancellationToken stopSending = default)
    {
        using var http = Client();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (!stopSending.IsCancellationRequested)
            {
                var post = Interlocked.Increment(ref _started) - 1;
                if (post >= posts)
                {
                    return;
                }
                await PostUntilAnsweredAsync(http, post, TimeSpan.FromSeconds(120));
                if (pause > TimeSpan.Zero)
                {
                    await Task.Delay(pause, CancellationToken.None);
                }
            }
        }));
    }

    /// <summary>Sends an accepted post again with its key: the answer must be a replay of the first.</summary>
    public async Task<HttpResponseMessage> ResendAsync(int post)
    {
        using var http = Client();
        return await SendAsync(http, apis[0], post);
    }

    private async Task PostUntilAnsweredAsync(HttpClient http, int post, TimeSpan deadline)
    {
        var clock = Stopwatch.StartNew();
        for (var attempt = 0; clock.Elapsed < deadline; attempt++)
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                using var response = await SendAsync(http, apis[(post + attempt) % apis.Count], post);
                var body = await response.Content.ReadAsStringAsync();
                NoteLatency(Stopwatch.GetElapsedTime(started));
                switch (response.StatusCode)
                {
                    case HttpStatusCode.Accepted:
                        _accepted[post] = JsonDocument.Parse(body).RootElement.GetProperty("uuid").GetGuid();
                        if (response.Headers.Contains("Idempotent-Replayed"))
                        {
                            Interlocked.Increment(ref _replays);
                        }
                        return;
                    case HttpStatusCode.ServiceUnavailable:
                        Interlocked.Increment(ref _unavailable);
                        if (response.Headers.RetryAfter is null)
                        {
                            Interlocked.Increment(ref _missingRetryAfter);
                        }
                        break;
                    default:
                        if ((int)response.StatusCode >= 500)
                        {
                            Interlocked.Increment(ref _serverErrors);
                        }
                        _unexpected.Enqueue($"{(int)response.StatusCode}: {body}");
                        if ((int)response.StatusCode < 500)
                        {
                            return; // a 4xx will not change on retry
                        }
                        break;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
            {
                NoteLatency(Stopwatch.GetElapsedTime(started));
                Interlocked.Increment(ref _unanswered);
            }
            await Task.Delay(100 + Random.Shared.Next(200));
        }
    }

    private Task<HttpResponseMessage> SendAsync(HttpClient http, Uri api, int post)
    {
        var body = authors is null
            ? JsonSerializer.Serialize(new { user_handle = "andrewbrown", message = Message(post), ttl = "1-day" })
            : JsonSerializer.Serialize(new { message = Message(post), ttl = "1-day" });
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(api, "/api/activities"))
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        if (authors is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", authors[post % authors.Count]);
        }
        request.Headers.Add(IdempotencyKeys.HeaderName, $"{tag}-{post}");
        return http.SendAsync(request);
    }

    private void NoteLatency(TimeSpan elapsed)
    {
        long seen;
        while (elapsed.Ticks > (seen = Interlocked.Read(ref _slowestTicks))
               && Interlocked.CompareExchange(ref _slowestTicks, elapsed.Ticks, seen) != seen)
        {
        }
    }

    private static HttpClient Client() => new(new SocketsHttpHandler
    {
        ConnectTimeout = TimeSpan.FromSeconds(2),
        PooledConnectionLifetime = TimeSpan.FromSeconds(30),
        MaxConnectionsPerServer = 64,
    })
    { Timeout = TimeSpan.FromSeconds(30) };
}

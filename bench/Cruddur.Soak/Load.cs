using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Amazon.SQS;
using Cruddur.Tests.Fixtures;

namespace Cruddur.Soak;

/// <summary>Latencies (of 2xx answers) and errors of one 30 s window, by when each request finished.</summary>
internal sealed class Window
{
    public ConcurrentQueue<double> PostMs { get; } = new();
    public ConcurrentQueue<double> FeedMs { get; } = new();
    public ConcurrentDictionary<string, int> Errors { get; } = new(StringComparer.Ordinal);
    public ConcurrentDictionary<string, int> Expected { get; } = new(StringComparer.Ordinal);

    /// <summary>2xx answers slower than <see cref="Load.SlowMs"/>: when they were due and done, to find a stall's moment.</summary>
    public ConcurrentQueue<(string What, double DueS, double DoneS)> Slow { get; } = new();

    private long _maxLoopGapTicks;

    /// <summary>The longest the driver's own send loop went between turns (1 ms asked): a stall of the driver itself.</summary>
    public double MaxLoopGapMs => TimeSpan.FromTicks(Interlocked.Read(ref _maxLoopGapTicks)).TotalMilliseconds;

    public void NoteLoopGap(TimeSpan gap)
    {
        var seen = Interlocked.Read(ref _maxLoopGapTicks);
        while (gap.Ticks > seen)
        {
            var was = Interlocked.CompareExchange(ref _maxLoopGapTicks, gap.Ticks, seen);
            if (was == seen)
            {
                return;
            }
            seen = was;
        }
    }
}

/// <summary>
/// The steady load, open loop (as bench/Cruddur.Bench.Baseline's OpenLoop): request i of a stream is due at
/// start + i / rate whatever earlier answers did, and its latency counts from when it was due, so a stall shows
/// as the queue it causes. Posts carry a unique message ("soak N") so the end can count each acknowledged one in
/// the database; sign-ups carry a unique handle ("soaku N").
/// </summary>
internal sealed class Load(Settings settings, Uri api, Stopwatch clock, Faults faults, AmazonSQSClient sqs) : IDisposable
{
    public static readonly TimeSpan WindowLength = TimeSpan.FromSeconds(30);

    public const double SlowMs = 500;

    private readonly HttpClient _http = new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = 1000, // a due request never waits behind a busy connection
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        UseProxy = false,
    })
    { Timeout = TimeSpan.FromSeconds(30) };

    private readonly ConcurrentDictionary<int, Window> _windows = new();

    public void Dispose() => _http.Dispose();
    private long _inFlight;

    /// <summary>1 for each post answered 202, by its number.</summary>
    public byte[] AcceptedPosts { get; } = new byte[(long)settings.PostRate * (int)settings.Duration.TotalSeconds + 1];

    public ConcurrentQueue<int> SentSignUps { get; } = new();

    private readonly Lock _recovery = new();
    private TimeSpan _watchFrom = TimeSpan.MaxValue;
    private TimeSpan? _firstAccepted;

    /// <summary>From now on, remembers when the first post sent after <paramref name="from"/> was answered 202.</summary>
    public void WatchRecovery(TimeSpan from)
    {
        lock (_recovery)
        {
            _watchFrom = from;
            _firstAccepted = null;
        }
    }

    /// <summary>When the first post sent after the watched moment was answered 202, or null while none was.</summary>
    public TimeSpan? FirstAccepted
    {
        get
        {
            lock (_recovery)
            {
                return _firstAccepted;
            }
        }
    }

    public IEnumerable<Window> Windows => _windows.Values;

    public Window WindowAt(int index) => _windows.GetOrAdd(index, _ => new Window());

    private Window Now => WindowAt((int)(clock.Elapsed / WindowLength));

    public async Task RunAsync(CancellationToken stop)
    {
        await Task.WhenAll(
            AtRateAsync(settings.PostRate, PostAsync, stop),
            AtRateAsync(settings.FeedRate, FeedAsync, stop),
            AtRateAsync(settings.SignUpRate, SignUpAsync, stop));
        // Every request sent is answered (or times out) before the counting starts.
        while (Interlocked.Read(ref _inFlight) > 0)
        {
            await Task.Delay(100, CancellationToken.None);
        }
    }

    private async Task AtRateAsync(double rate, Func<int, TimeSpan, Task> send, CancellationToken stop)
    {
        if (rate <= 0)
        {
            return;
        }
        var start = clock.Elapsed;
        var sent = 0;
        var turn = clock.Elapsed;
        while (!stop.IsCancellationRequested)
        {
            var now = clock.Elapsed;
            Now.NoteLoopGap(now - turn);
            turn = now;
            var due = (int)((clock.Elapsed - start).TotalSeconds * rate) + 1;
            for (; sent < due; sent++)
            {
                var dueAt = start + TimeSpan.FromSeconds(sent / rate);
                Interlocked.Increment(ref _inFlight);
                var n = sent;
                _ = Task.Run(async () =>
                {
                    try
                    {
                        await send(n, dueAt);
                    }
                    finally
                    {
                        Interlocked.Decrement(ref _inFlight);
                    }
                }, CancellationToken.None);
            }
            await Task.Delay(1, CancellationToken.None);
        }
    }

    private async Task PostAsync(int n, TimeSpan dueAt)
    {
        if (n >= AcceptedPosts.Length)
        {
            return;
        }
        var body = $$"""{"user_handle":"bench{{1 + n % 1000}}","message":"soak {{n}}","ttl":"1-day"}""";
        var sentAt = clock.Elapsed;
        await RequestAsync("post", dueAt, async () =>
        {
            using var content = new StringContent(body, Encoding.UTF8, "application/json");
            using var answer = await _http.PostAsync(new Uri(api, "/api/activities"), content);
            await answer.Content.LoadIntoBufferAsync();
            if (answer.StatusCode == HttpStatusCode.Accepted)
            {
                AcceptedPosts[n] = 1;
                lock (_recovery)
                {
                    if (sentAt >= _watchFrom && _firstAccepted is null)
                    {
                        _firstAccepted = clock.Elapsed;
                    }
                }
            }
            return answer.StatusCode;
        }, window => window.PostMs);
    }

    private Task FeedAsync(int n, TimeSpan dueAt) => RequestAsync("feed", dueAt, async () =>
    {
        using var page = await _http.GetAsync(new Uri(api, "/api/activities/home"), HttpCompletionOption.ResponseContentRead);
        return page.StatusCode;
    }, window => window.FeedMs);

    /// <summary>
    /// Counts one request. A 503 answered while the Api is cut from PostgreSQL (from the cut until 5 s after the heal)
    /// is the answer the contract promises, so it is expected; anything else that is not 2xx is an error, timeouts (30 s)
    /// and broken connections included, wherever they fall, but for requests due in the first 30 s (the warm-up).
    /// </summary>
    private async Task RequestAsync(string what, TimeSpan dueAt, Func<Task<HttpStatusCode>> send, Func<Window, ConcurrentQueue<double>> latencies)
    {
        string? error;
        try
        {
            var status = await send();
            if ((int)status is >= 200 and < 300)
            {
                var done = clock.Elapsed;
                var window = Now;
                latencies(window).Enqueue((done - dueAt).TotalMilliseconds);
                if ((done - dueAt).TotalMilliseconds > SlowMs)
                {
                    window.Slow.Enqueue((what, dueAt.TotalSeconds, done.TotalSeconds));
                }
                return;
            }
            if (status == HttpStatusCode.ServiceUnavailable && faults.ApiCutAround(clock.Elapsed))
            {
                Now.Expected.AddOrUpdate($"{what} 503 during the Api's partition", 1, (_, c) => c + 1);
                return;
            }
            error = $"{what} {(int)status}";
        }
        catch (TaskCanceledException)
        {
            error = $"{what} timeout";
        }
        catch (HttpRequestException)
        {
            error = $"{what} connection";
        }
        // A request due in the first window met a cold Api (JIT, empty pools) at the full rate: counted apart, as bin/bench's warm-up.
        var errors = dueAt < WindowLength ? Now.Expected : Now.Errors;
        errors.AddOrUpdate(dueAt < WindowLength ? $"{error} due in the warm-up (first 30 s)" : error, 1, (_, c) => c + 1);
    }

    private async Task SignUpAsync(int n, TimeSpan dueAt)
    {
        try
        {
            await sqs.SendMessageAsync(settings.UsersQueueUrl, CognitoEvents.PostConfirmation(
                handle: $"soaku{n}", email: $"soaku{n}@example.com", name: $"Soak {n}", sub: SignUpSub(n)));
            SentSignUps.Enqueue(n);
        }
        catch (AmazonSQSException)
        {
            Now.Errors.AddOrUpdate("sign-up send", 1, (_, c) => c + 1);
        }
    }

    /// <summary>Sign-up n's Cognito sub, a UUID as Cognito's are, so the end can find the user.</summary>
    public static string SignUpSub(int n) => $"00000000-0000-4000-8000-{n.ToString("D12", CultureInfo.InvariantCulture)}";
}

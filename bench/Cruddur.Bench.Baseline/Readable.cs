using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Cruddur.Bench.Baseline;

/// <summary>
/// How long a signed-in post takes from its 202 until <c>GET /api/activities/{uuid}</c> answers 200 (issue 34): the
/// time a user waits to see what they posted. Signed-in POSTs go out on <see cref="OpenLoop"/>'s schedule, each with
/// the access token of one of the users in a file (one token per line); a random sample of them (one in
/// <c>track-every</c>) is then read every 2 ms until it answers 200.
/// </summary>
/// <remarks>
/// The polling is kept from distorting what it measures three ways. The sample is random, not every n-th post: posts
/// n apart at a fixed rate meet the Worker's fixed poll interval in a handful of phases only. Each tracked post is read
/// at most every 2 ms, counted from the start of the previous read (a slow read is followed at once, not 2 ms later), so
/// a figure is late by at most 2 ms plus one read. And the reads per second are printed (<c>polls_per_s</c>), so the
/// load they add stands beside the figure; bin/bench tracks every post at 5/s and one in 100 at 1,000/s, so that
/// the reads stay a small part of the load (docs/benchmarks.md has the figures).
/// Reads go over a connection pool of their own, so a read never waits behind a POST or a POST behind a read.
/// </remarks>
internal static class Readable
{
    public const string Usage = "readable <api-url> <tokens-file> <posts-per-second> <seconds> <track-every> [warm-up-seconds]";

    /// <summary>How often a tracked post is read; the measurement used 2 ms.</summary>
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(2);

    /// <summary>A post not readable after this long is counted as unreadable, not waited for.</summary>
    private static readonly TimeSpan GiveUpAfter = TimeSpan.FromSeconds(30);

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length is < 5 or > 6
            || !Uri.TryCreate(args[0], UriKind.Absolute, out var api)
            || !File.Exists(args[1])
            || !int.TryParse(args[2], CultureInfo.InvariantCulture, out var rate) || rate < 1
            || !int.TryParse(args[3], CultureInfo.InvariantCulture, out var seconds) || seconds < 1
            || !int.TryParse(args[4], CultureInfo.InvariantCulture, out var trackEvery) || trackEvery < 1
            || (args.Length == 6 && !int.TryParse(args[5], CultureInfo.InvariantCulture, out _)))
        {
            Console.Error.WriteLine($"usage: Cruddur.Bench.Baseline {Usage}");
            return 2;
        }
        var tokens = File.ReadAllLines(args[1]).Where(line => line.Length > 0).ToArray();
        if (tokens.Length == 0)
        {
            Console.Error.WriteLine($"{args[1]} holds no access token (one per line).");
            return 2;
        }
        var warmUp = args.Length == 6 ? int.Parse(args[5], CultureInfo.InvariantCulture) : 2;
        using var posts = NewClient(api);
        using var reads = NewClient(api);

        // Not counted: the generator's own JIT and connections, at the same rate.
        await RunAsync(posts, reads, tokens, rate, warmUp, trackEvery);
        var run = await RunAsync(posts, reads, tokens, rate, seconds, trackEvery);

        var readable = run.ReadableMs.ToArray();
        Array.Sort(readable);
        var postLatencies = run.PostMs;
        Array.Sort(postLatencies);
        Console.WriteLine(FormattableString.Invariant($"posts={postLatencies.Length}"));
        Console.WriteLine(FormattableString.Invariant($"not_accepted={run.NotAccepted}"));
        Console.WriteLine(FormattableString.Invariant($"post_p50_ms={OpenLoop.Percentile(postLatencies, 0.50):F2}"));
        Console.WriteLine(FormattableString.Invariant($"post_p99_ms={OpenLoop.Percentile(postLatencies, 0.99):F2}"));
        Console.WriteLine(FormattableString.Invariant($"tracked={readable.Length + run.Unreadable}"));
        Console.WriteLine(FormattableString.Invariant($"unreadable={run.Unreadable}"));
        Console.WriteLine(FormattableString.Invariant($"readable_p50_ms={OpenLoop.Percentile(readable, 0.50):F2}"));
        Console.WriteLine(FormattableString.Invariant($"readable_p99_ms={OpenLoop.Percentile(readable, 0.99):F2}"));
        Console.WriteLine(FormattableString.Invariant($"readable_max_ms={(readable.Length > 0 ? readable[^1] : 0):F2}"));
        Console.WriteLine(FormattableString.Invariant($"polls_per_s={run.Polls / run.Elapsed.TotalSeconds:F0}"));
        return 0;
    }

    private static HttpClient NewClient(Uri api) => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = 1000, // as OpenLoop: a due request never queues behind a busy connection
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        UseProxy = false,
    })
    { BaseAddress = api, Timeout = TimeSpan.FromSeconds(30) };

    private sealed record Run(double[] PostMs, int NotAccepted, IReadOnlyCollection<double> ReadableMs, int Unreadable, long Polls, TimeSpan Elapsed);

    private static async Task<Run> RunAsync(HttpClient posts, HttpClient reads, string[] tokens, int rate, int seconds, int trackEvery)
    {
        var postMs = new double[rate * seconds];
        var readableMs = new System.Collections.Concurrent.ConcurrentBag<double>();
        int notAccepted = 0, unreadable = 0;
        long polls = 0;
        var elapsed = await OpenLoop.OnScheduleAsync(rate, seconds, async (i, dueAt, clock) =>
        {
            var location = await PostAsync(posts, tokens[Random.Shared.Next(tokens.Length)]);
            postMs[i] = (clock.Elapsed - dueAt).TotalMilliseconds;
            if (location is null)
            {
                Interlocked.Increment(ref notAccepted);
            }
            else if (Random.Shared.Next(trackEvery) == 0)
            {
                var acceptedAt = clock.Elapsed;
                var readAt = await FirstReadableAsync(reads, location, clock, acceptedAt, () => Interlocked.Increment(ref polls));
                if (readAt is { } at)
                {
                    readableMs.Add((at - acceptedAt).TotalMilliseconds);
                }
                else
                {
                    Interlocked.Increment(ref unreadable);
                }
            }
        });
        return new Run(postMs, notAccepted, readableMs, unreadable, polls, elapsed);
    }

    /// <summary>POSTs a signed-in post (no user_handle: the token says who); its address when answered 202, else null.</summary>
    private static async Task<Uri?> PostAsync(HttpClient http, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/activities")
        {
            Content = new StringContent("""{"message":"a signed-in benchmark post","ttl":"1-day"}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        try
        {
            using var answer = await http.SendAsync(request);
            await answer.Content.LoadIntoBufferAsync();
            return answer.StatusCode == HttpStatusCode.Accepted ? answer.Headers.Location : null;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return null; // counted as not accepted
        }
    }

    /// <summary>Reads the post every <see cref="PollInterval"/> until it answers 200; when it did, or null after <see cref="GiveUpAfter"/>.</summary>
    private static async Task<TimeSpan?> FirstReadableAsync(HttpClient http, Uri location, Stopwatch clock, TimeSpan acceptedAt, Action counted)
    {
        while (clock.Elapsed - acceptedAt < GiveUpAfter)
        {
            var started = clock.Elapsed;
            try
            {
                using var answer = await http.GetAsync(location, HttpCompletionOption.ResponseContentRead);
                counted();
                if (answer.StatusCode == HttpStatusCode.OK)
                {
                    return clock.Elapsed;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // read again: a failed read is not the post's fault
            }
            var wait = PollInterval - (clock.Elapsed - started);
            if (wait > TimeSpan.Zero)
            {
                // Whole milliseconds, rounded up: Task.Delay truncates, and 0.6 ms would be no wait at all.
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Ceiling(wait.TotalMilliseconds)));
            }
        }
        return null;
    }
}

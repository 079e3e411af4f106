using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;

namespace Cruddur.Bench.Baseline;

/// <summary>
/// A constant-rate load generator (open loop): request i is due at start + i / rate, whether or not earlier
/// answers came back, and its latency is counted from when it was due, not from when it was sent. A slow
/// answer therefore cannot slow the schedule and hide the queue it causes (no coordinated omission), which
/// wrk's closed loop does. Prints p50, p99 and p99.9 in ms, the rate reached and the answers that were not
/// the expected status.
/// </summary>
internal static class OpenLoop
{
    public const string Usage = "rate <get|post> <url> <requests-per-second> <seconds> [warm-up-seconds]";

    /// <summary>
    /// <c>BENCH_BEARER</c>: a Cognito access token every POST carries, posting as its user (no <c>user_handle</c>);
    /// unset, posts name one of the bench users by handle, without a token.
    /// </summary>
    private static readonly string? Bearer = Environment.GetEnvironmentVariable("BENCH_BEARER") is { Length: > 0 } token ? token : null;

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length is < 4 or > 5 || args[0] is not ("get" or "post")
            || !Uri.TryCreate(args[1], UriKind.Absolute, out var url)
            || !int.TryParse(args[2], CultureInfo.InvariantCulture, out var rate) || rate < 1
            || !int.TryParse(args[3], CultureInfo.InvariantCulture, out var seconds) || seconds < 1)
        {
            Console.Error.WriteLine($"usage: Cruddur.Bench.Baseline {Usage}");
            return 2;
        }
        var warmUp = args.Length == 5 ? int.Parse(args[4], CultureInfo.InvariantCulture) : 2;
        var post = args[0] == "post";
        using var http = new HttpClient(new SocketsHttpHandler
        {
            // Enough connections that the generator never queues a due request behind a busy one.
            MaxConnectionsPerServer = 1000,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            UseProxy = false,
        })
        { Timeout = TimeSpan.FromSeconds(30) };

        // Not counted: the generator's own JIT and connections, at the same rate.
        await RunAtRateAsync(http, url, post, rate, warmUp);
        var result = await RunAtRateAsync(http, url, post, rate, seconds);

        var latencies = result.LatenciesMs;
        Array.Sort(latencies);
        Console.WriteLine(FormattableString.Invariant($"sent={latencies.Length}"));
        Console.WriteLine(FormattableString.Invariant($"rate_reached={latencies.Length / result.Elapsed.TotalSeconds:F0}"));
        Console.WriteLine(FormattableString.Invariant($"unexpected={result.Unexpected}"));
        Console.WriteLine(FormattableString.Invariant($"p50_ms={Percentile(latencies, 0.50):F2}"));
        Console.WriteLine(FormattableString.Invariant($"p99_ms={Percentile(latencies, 0.99):F2}"));
        Console.WriteLine(FormattableString.Invariant($"p999_ms={Percentile(latencies, 0.999):F2}"));
        Console.WriteLine(FormattableString.Invariant($"max_ms={(latencies.Length > 0 ? latencies[^1] : 0):F2}"));
        return 0;
    }

    private sealed record Run(double[] LatenciesMs, int Unexpected, TimeSpan Elapsed);

    private static async Task<Run> RunAtRateAsync(HttpClient http, Uri url, bool post, int rate, int seconds)
    {
        var total = rate * seconds;
        var latencies = new double[total];
        var unexpected = 0;
        var inFlight = new Task[total];
        var clock = Stopwatch.StartNew();
        // The schedule runs on a thread of its own that sleeps 1 ms at a time (nanosleep) and starts every request
        // due by then on itself: each request's latency counts from its due time, so the sender's own lateness
        // counts against the server measured. With Task.Delay(1) and Task.Run per request on the thread pool, /healthz
        // at 1,000/s measured p50 / p99 2.47 / 5.23 ms, most of it the generator's timer and queueing.
        var sender = new Thread(() =>
        {
            var sent = 0;
            while (sent < total)
            {
                // Everything due by now is sent now; each keeps its own due time.
                var due = Math.Min(total, (int)(clock.Elapsed.TotalSeconds * rate) + 1);
                for (; sent < due; sent++)
                {
                    var i = sent;
                    var dueAt = TimeSpan.FromSeconds((double)i / rate);
                    inFlight[i] = Measure(i, dueAt);
                }
                Thread.Sleep(1);
            }
        })
        { IsBackground = true, Name = "open-loop sender" };
        sender.Start();
        await Task.Run(sender.Join);
        await Task.WhenAll(inFlight);
        return new Run(latencies, unexpected, clock.Elapsed);

        async Task Measure(int i, TimeSpan dueAt)
        {
            var ok = await SendAsync(http, url, post);
            latencies[i] = (clock.Elapsed - dueAt).TotalMilliseconds;
            if (!ok)
            {
                Interlocked.Increment(ref unexpected);
            }
        }
    }

    private static async Task<bool> SendAsync(HttpClient http, Uri url, bool post)
    {
        try
        {
            if (post)
            {
                // The body of bench/wrk/post.lua: a valid post for one of the bench users (or, signed in, the token's user).
                var body = Bearer is null
                    ? $$"""{"user_handle":"bench{{Random.Shared.Next(1, 1001)}}","message":"a benchmark post","ttl":"1-day"}"""
                    : """{"message":"a signed-in benchmark post","ttl":"1-day"}""";
                using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                if (Bearer is not null)
                {
                    request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Bearer);
                }
                using var answer = await http.SendAsync(request);
                await answer.Content.LoadIntoBufferAsync();
                return answer.StatusCode is HttpStatusCode.Accepted or HttpStatusCode.Created;
            }
            using var page = await http.GetAsync(url, HttpCompletionOption.ResponseContentRead);
            return page.StatusCode == HttpStatusCode.OK;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException)
        {
            return false; // the 30 s timeout: counted, with its latency
        }
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
}

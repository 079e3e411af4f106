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

    public const string AlternatingUsage =
        "rate-alternating <get|post> <url-a> <url-b> <requests-per-second> <seconds-each> <slice-seconds> [warm-up-seconds]";

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
        using var http = NewClient();

        // Not counted: the generator's own JIT and connections, at the same rate.
        await RunAtRateAsync(http, url, post, rate, warmUp);
        Print("", [await RunAtRateAsync(http, url, post, rate, seconds)]);
        return 0;
    }

    /// <summary>
    /// Two servers at the same fixed rate, in slices A B B A A B B A ... until each has had <c>seconds-each</c>, so that
    /// both sides' percentiles come from the same minutes of the host (on shared cores a window's tail moves with what
    /// the host did meanwhile). Each slice's p50 and p99 are printed as it ends; then A's figures prefixed <c>a_</c> and B's
    /// <c>b_</c>, over all of each side's slices.
    /// </summary>
    public static async Task<int> RunAlternatingAsync(string[] args)
    {
        if (args.Length is < 6 or > 7 || args[0] is not ("get" or "post")
            || !Uri.TryCreate(args[1], UriKind.Absolute, out var a)
            || !Uri.TryCreate(args[2], UriKind.Absolute, out var b)
            || !int.TryParse(args[3], CultureInfo.InvariantCulture, out var rate) || rate < 1
            || !int.TryParse(args[4], CultureInfo.InvariantCulture, out var seconds) || seconds < 1
            || !int.TryParse(args[5], CultureInfo.InvariantCulture, out var slice) || slice < 1 || seconds % slice != 0)
        {
            Console.Error.WriteLine($"usage: Cruddur.Bench.Baseline {AlternatingUsage} (seconds-each a multiple of slice-seconds)");
            return 2;
        }
        var warmUp = args.Length == 7 ? int.Parse(args[6], CultureInfo.InvariantCulture) : 2;
        var post = args[0] == "post";
        using var http = NewClient();

        await RunAtRateAsync(http, a, post, rate, warmUp);
        await RunAtRateAsync(http, b, post, rate, warmUp);
        List<Run>[] sides = [[], []];
        for (var i = 0; i < 2 * seconds / slice; i++)
        {
            var side = i % 4 is 0 or 3 ? 0 : 1; // A B B A: each side as often early as late in every four slices
            var run = await RunAtRateAsync(http, side == 0 ? a : b, post, rate, slice);
            sides[side].Add(run);
            var sorted = run.LatenciesMs.Order().ToArray();
            Console.WriteLine(FormattableString.Invariant($"slice={i + 1} side={(side == 0 ? "a" : "b")} p50_ms={Percentile(sorted, 0.50):F2} p99_ms={Percentile(sorted, 0.99):F2}"));
        }
        Print("a_", sides[0]);
        Print("b_", sides[1]);
        return 0;
    }

    private static HttpClient NewClient() => new(new SocketsHttpHandler
    {
        // Enough connections that the generator never queues a due request behind a busy one.
        MaxConnectionsPerServer = 1000,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        UseProxy = false,
    })
    { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Prints the runs' figures as <c>key=value</c> lines, each key after <paramref name="prefix"/>.</summary>
    private static void Print(string prefix, IReadOnlyList<Run> runs)
    {
        var latencies = runs.SelectMany(run => run.LatenciesMs).Order().ToArray();
        var elapsed = runs.Aggregate(TimeSpan.Zero, (sum, run) => sum + run.Elapsed);
        Console.WriteLine(FormattableString.Invariant($"{prefix}sent={latencies.Length}"));
        Console.WriteLine(FormattableString.Invariant($"{prefix}rate_reached={latencies.Length / elapsed.TotalSeconds:F0}"));
        Console.WriteLine(FormattableString.Invariant($"{prefix}unexpected={runs.Sum(run => run.Unexpected)}"));
        Console.WriteLine(FormattableString.Invariant($"{prefix}p50_ms={Percentile(latencies, 0.50):F2}"));
        Console.WriteLine(FormattableString.Invariant($"{prefix}p99_ms={Percentile(latencies, 0.99):F2}"));
        Console.WriteLine(FormattableString.Invariant($"{prefix}p999_ms={Percentile(latencies, 0.999):F2}"));
        Console.WriteLine(FormattableString.Invariant($"{prefix}max_ms={(latencies.Length > 0 ? latencies[^1] : 0):F2}"));
    }

    private sealed record Run(double[] LatenciesMs, int Unexpected, TimeSpan Elapsed);

    private static async Task<Run> RunAtRateAsync(HttpClient http, Uri url, bool post, int rate, int seconds)
    {
        var latencies = new double[rate * seconds];
        var unexpected = 0;
        var elapsed = await OnScheduleAsync(rate, seconds, async (i, dueAt, clock) =>
        {
            var ok = await SendAsync(http, url, post);
            latencies[i] = (clock.Elapsed - dueAt).TotalMilliseconds;
            if (!ok)
            {
                Interlocked.Increment(ref unexpected);
            }
        });
        return new Run(latencies, unexpected, elapsed);
    }

    /// <summary>
    /// Starts <paramref name="send"/> for request i at start + i / rate (its due time, passed with the run's clock),
    /// whether or not earlier ones finished; returns once all of them have, with the time that took.
    /// </summary>
    internal static async Task<TimeSpan> OnScheduleAsync(int rate, int seconds, Func<int, TimeSpan, Stopwatch, Task> send)
    {
        var total = rate * seconds;
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
                    inFlight[sent] = send(sent, TimeSpan.FromSeconds((double)sent / rate), clock);
                }
                Thread.Sleep(1);
            }
        })
        { IsBackground = true, Name = "open-loop sender" };
        sender.Start();
        await Task.Run(sender.Join);
        await Task.WhenAll(inFlight);
        return clock.Elapsed;
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

    internal static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
}

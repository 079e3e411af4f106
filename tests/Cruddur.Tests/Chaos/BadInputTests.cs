using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Cruddur.Tests.Fixtures;
using Cruddur.Tests.Users;

namespace Cruddur.Tests.Chaos;

/// <summary>
/// Hostile input at a real Api process: only 4xx answers, never a 5xx or a stack trace, the process alive.
/// Hostile SQS bodies: each ingested or dead-lettered with a reason, the poller alive.
/// </summary>
[Collection(ChaosSettings.Serial)]
public sealed class BadInputTests(PostgresServer server, MotoServer moto)
{
    [Fact]
    [Trait("Category", "Fast chaos")]
    public Task Six_hundred_hostile_requests_get_only_4xx_answers() => HostileRequestsAsync(600, "(e) bad HTTP input, fast subset");

    [Fact]
    [Trait("Category", "Chaos")]
    public Task Ten_thousand_hostile_requests_get_only_4xx_answers() => HostileRequestsAsync(10_000, "(e) bad HTTP input");

    [Fact]
    [Trait("Category", "Fast chaos")]
    public async Task Oversized_headers_and_request_lines_are_refused_with_4xx()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var port = PortAllocator.Free();
        await using var api = await ServiceProcess.StartApiAsync(db.Url, port);
        using var http = new HttpClient { BaseAddress = ProcessCrashTests.Local(port) };

        using var oneHuge = new HttpRequestMessage(HttpMethod.Get, "/api/activities/home");
        oneHuge.Headers.TryAddWithoutValidation("X-Huge", new string('h', 40 * 1024));
        using var many = new HttpRequestMessage(HttpMethod.Get, "/api/activities/home");
        for (var i = 0; i < 300; i++)
        {
            many.Headers.TryAddWithoutValidation($"X-Many-{i}", new string('m', 200));
        }
        using var hugeKey = new HttpRequestMessage(HttpMethod.Post, "/api/activities") { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
        hugeKey.Headers.TryAddWithoutValidation("Idempotency-Key", new string('k', 20 * 1024));

        var answers = new[]
        {
            await http.SendAsync(oneHuge),
            await http.SendAsync(many),
            await http.GetAsync(new Uri("/api/activities/home?limit=" + new string('1', 20 * 1024), UriKind.Relative)),
            await http.SendAsync(hugeKey),
        }.Select(r => (int)r.StatusCode).ToList();

        TestContext.Current.TestOutputHelper?.WriteLine($"oversized header, many headers, long URL, huge key: {string.Join(", ", answers)}");
        Assert.Equal([431, 431, 414, 400], answers);
        Assert.False(api.HasExited);
    }

    [Fact]
    [Trait("Category", "Chaos")]
    public async Task A_client_that_sends_its_headers_slowly_is_disconnected()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var port = PortAllocator.Free();
        await using var api = await ServiceProcess.StartApiAsync(db.Url, port);
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("POST /api/activities HTTP/1.1\r\nHost: x\r\n"));

        var started = DateTime.UtcNow;
        var buffer = new byte[1024];
        int read;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            // Kestrel's RequestHeadersTimeout (10 s) ends the connection: a 408 answer, or a close.
            read = await stream.ReadAsync(buffer, deadline.Token);
        }
        catch (IOException)
        {
            read = 0;
        }
        var waited = DateTime.UtcNow - started;

        TestContext.Current.TestOutputHelper?.WriteLine($"slow client disconnected after {waited.TotalSeconds:0.0} s: '{Encoding.ASCII.GetString(buffer, 0, read).Split('\r')[0]}'");
        Assert.False(deadline.IsCancellationRequested);
        Assert.True(read == 0 || Encoding.ASCII.GetString(buffer, 0, read).StartsWith("HTTP/1.1 408", StringComparison.Ordinal));
        Assert.False(api.HasExited);
    }

    [Fact]
    [Trait("Category", "Chaos")]
    public async Task A_thousand_hostile_SQS_bodies_are_each_ingested_or_dead_lettered_with_a_reason()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        using var sqs = new SqsQueues(moto);
        var queue = await sqs.CreateAsync("chaos-hostile", visibilityTimeoutSeconds: 5);
        var deadLetters = await sqs.CreateAsync("chaos-hostile-dlq");
        await using var worker = ServiceProcess.StartWorker(db.Url, ChaosSettings.Worker());
        var environment = new Dictionary<string, string?>(moto.Environment)
        {
            ["COGNITO_USERS_QUEUE_URL"] = queue,
            ["COGNITO_USERS_DLQ_URL"] = deadLetters,
            ["COGNITO_USERS_WAIT_SECONDS"] = "1",
        };
        await using var api = await ServiceProcess.StartApiAsync(db.Url, PortAllocator.Free(), environment);
        var bodies = HostileSignUps(1000, seed: 21).ToList();
        var expected = bodies.GroupBy(b => b.Outcome).ToDictionary(g => g.Key, g => (long)g.Count());

        await sqs.SendAsync(queue, bodies.Select(b => b.Body));
        var deadline = DateTime.UtcNow.AddSeconds(120);
        var deadLettered = new List<Amazon.SQS.Model.Message>();
        long users, failedJobs;
        while (true)
        {
            deadLettered.AddRange(await sqs.DrainAsync(deadLetters));
            users = await db.ScalarAsync<long>("SELECT count(*) FROM public.users WHERE starts_with(cognito_user_id, 'chaos-e-')");
            failedJobs = await db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job WHERE statename = 'Failed'");
            if ((users + failedJobs + deadLettered.Count >= bodies.Count && await sqs.CountAsync(queue) == 0) || DateTime.UtcNow > deadline)
            {
                break;
            }
            await Task.Delay(500);
        }
        var inQueue = await sqs.CountAsync(queue);
        var withReason = deadLettered.Count(m => m.MessageAttributes.TryGetValue("cruddur-reject-reason", out var reason) && !string.IsNullOrEmpty(reason.StringValue));
        new ChaosCounts("(e) bad SQS bodies", bodies.Count, bodies.Count, users, 0, bodies.Count - users - deadLettered.Count - failedJobs,
            $"expected users {expected.GetValueOrDefault("user")} / dead letters {expected.GetValueOrDefault("dead-letter")} / failed jobs (handle taken) {expected.GetValueOrDefault("failed-job")}; " +
            $"got users {users}, dead-lettered {deadLettered.Count} (with a reason {withReason}), failed jobs {failedJobs}; still in the queue {inQueue}").Report();

        // Every body is accounted for: a user, a dead letter with its reason, or a job failed with its reason.
        Assert.Equal(bodies.Count, users + deadLettered.Count + failedJobs);
        Assert.Equal(deadLettered.Count, withReason);
        Assert.Equal(expected.GetValueOrDefault("user"), users);
        Assert.Equal(expected.GetValueOrDefault("dead-letter"), deadLettered.Count);
        Assert.False(api.HasExited);
    }

    private async Task HostileRequestsAsync(int count, string scenario)
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var port = PortAllocator.Free();
        await using var worker = ServiceProcess.StartWorker(db.Url, ChaosSettings.Worker());
        await using var api = await ServiceProcess.StartApiAsync(db.Url, port);
        using var http = new HttpClient { BaseAddress = ProcessCrashTests.Local(port), Timeout = TimeSpan.FromSeconds(30) };
        var input = new HostileInput(seed: count);
        var statuses = new ConcurrentDictionary<string, int>();
        var accepted = new ConcurrentDictionary<Guid, byte>();
        var problems = new ConcurrentQueue<string>();

        // Each request with the answers that are right for it: a 4xx, or a 2xx only where the input can be valid.
        var requests = input.Bodies(count).Select(r => (Make: (Func<HttpRequestMessage>)(() => Post(r)), MayBeValid: r.MayBeValid, Success: 202))
            .Concat(input.Paths(count / 10).Select(p => (Make: (Func<HttpRequestMessage>)(() => new HttpRequestMessage(HttpMethod.Get, new Uri(p.Path, UriKind.Relative))), MayBeValid: p.MayBeFound, Success: 200)))
            .ToList();
        await Parallel.ForEachAsync(requests, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (hostile, token) =>
        {
            using var request = hostile.Make();
            var what = $"{request.Method} {request.RequestUri} [{request.Content?.Headers.ContentType}] ({request.Content?.Headers.ContentLength} bytes)";
            HttpResponseMessage response;
            var answered = "answered";
            try
            {
                response = await http.SendAsync(request, token);
            }
            catch (HttpRequestException) when (request.Content?.Headers.ContentLength > Cruddur.Api.Activities.PostActivityBody.MaxBodyBytes)
            {
                // Kestrel answers 413 at once and closes the connection on a body it will not read: the client may
                // see the close before the answer. Allowed for bodies past the limit only.
                statuses.AddOrUpdate("closed while sending a body past the limit", 1, (_, n) => n + 1);
                return;
            }
            catch (HttpRequestException e)
            {
                // The connection died under the request (2-4 in 11,000, cause not pinned down: docs/reliability.md).
                // Counted apart, and the same request on a new connection, as a client retries, must be answered right.
                if (await AnswerOnRetryAsync(http, hostile.Make, token) is not { } retried)
                {
                    problems.Enqueue($"{what} -> no answer, twice: {e.InnerException?.Message ?? e.Message}");
                    return;
                }
                response = retried;
                answered = "connection dropped, answered on retry";
            }
            using var _ = response;
            var body = await response.Content.ReadAsStringAsync(token);
            var status = (int)response.StatusCode;
            statuses.AddOrUpdate($"{answered} {status}", 1, (_, n) => n + 1);
            var right = status is >= 400 and < 500 and not 408 || (hostile.MayBeValid && status == hostile.Success);
            if (!right || body.Contains("   at ", StringComparison.Ordinal) || body.Contains("Exception", StringComparison.Ordinal))
            {
                problems.Enqueue($"{what} -> {status}: {body[..Math.Min(body.Length, 300)]}");
            }
            if (status == 202)
            {
                accepted.TryAdd(JsonDocument.Parse(body).RootElement.GetProperty("uuid").GetGuid(), 0);
            }
        });

        var healthy = (await http.GetAsync(new Uri("/healthz", UriKind.Relative))).IsSuccessStatusCode;
        // What was acknowledged is counted where it is kept: the activities table, once the Worker has run the jobs.
        var uuids = string.Join(',', accepted.Keys.Select(uuid => $"'{uuid}'"));
        var countStored = $"SELECT count(*) FROM public.activities WHERE uuid IN ({(uuids.Length > 0 ? uuids : "NULL")})";
        var stored = await Eventually.ReachesAsync(() => db.ScalarAsync<long>(countStored), n => n >= accepted.Count, $"the {accepted.Count} accepted posts stored (stored so far)", TimeSpan.FromSeconds(120));
        new ChaosCounts(scenario, requests.Count, accepted.Count, stored, 0, accepted.Count - stored,
            $"answers {string.Join(", ", statuses.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => $"{s.Key}×{s.Value}"))}; wrong answers, 5xx or stack traces {problems.Count}; alive {healthy && !api.HasExited}").Report();

        Assert.True(problems.IsEmpty, string.Join('\n', problems.Take(20).Select(p => p[..Math.Min(p.Length, 300)])) + "\n--- Api errors\n" + string.Join('\n', api.Output.Split('\n').Where(l => l.Contains("fail:", StringComparison.Ordinal) || l.Contains("Exception", StringComparison.Ordinal)).Distinct().Take(30)));
        Assert.Equal(accepted.Count, stored);
        Assert.True(healthy);
        Assert.False(api.HasExited);
    }

    // The same request on a new connection, as a client does after its connection died.
    private static async Task<HttpResponseMessage?> AnswerOnRetryAsync(HttpClient http, Func<HttpRequestMessage> make, CancellationToken token)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            try
            {
                using var fresh = new HttpClient { BaseAddress = http.BaseAddress };
                using var request = make();
                var response = await fresh.SendAsync(request, token);
                await response.Content.LoadIntoBufferAsync(token);
                return response;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(100, token);
            }
        }
        return null;
    }

    private static HttpRequestMessage Post(HostileInput.Request hostile)
    {
        var content = new ByteArrayContent(hostile.Body);
        if (hostile.ContentType is { Length: > 0 } type)
        {
            content.Headers.TryAddWithoutValidation("Content-Type", type);
        }
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/activities", UriKind.Relative)) { Content = content };
        if (hostile.IdempotencyKey is { } key)
        {
            request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        }
        return request;
    }

    /// <summary>Sign-up bodies and what each must become: a user, a dead letter, or a failed job (a handle another user has).</summary>
    private static IEnumerable<(string Body, string Outcome)> HostileSignUps(int count, int seed)
    {
        var random = new Random(seed);
        string[] names = ["Ann", "\u202EnnA", "👍🏽 Thumbs", "e\u0301", new string('n', 300), "\ud800x", "Bob\u0000", "' OR 1=1 --", "", "\uFEFFBom"];
        for (var i = 0; i < count; i++)
        {
            var sub = $"chaos-e-{i}";
            var kind = random.Next(8);
            if (kind < 4)
            {
                var name = names[random.Next(names.Length)];
                var handle = random.Next(8) == 0 ? "andrewbrown" : $"chaos_e_{i}";
                // The serializer writes an unpaired surrogate as U+FFFD, so "\ud800x" arrives as a valid name.
                var parses = name.Length is > 0 and <= 256 && !name.Any(char.IsControl);
                yield return (SignUp(sub, $"{sub}@example.com", name, handle, "PostConfirmation_ConfirmSignUp"),
                    !parses ? "dead-letter" : handle == "andrewbrown" ? "failed-job" : "user");
                continue;
            }
            yield return (kind switch
            {
                4 => SignUp(sub, "not-an-email", "Ann", $"chaos_e_{i}", "PostConfirmation_ConfirmSignUp"),
                5 => SignUp(sub, $"{sub}@example.com", "Ann", $"chaos_e_{i}", "PreSignUp_SignUp"),
                6 => random.Next(4) switch
                {
                    0 => "not json",
                    1 => "[1,2,3]",
                    2 => "{\"request\":{\"userAttributes\":null}}",
                    _ => SignUp(sub, $"{sub}@example.com", "Ann", $"chaos_e_{i}", "PostConfirmation_ConfirmSignUp").Replace("\"Ann\"", "\"\\ud800\"", StringComparison.Ordinal),
                },
                _ => JsonSerializer.Serialize(new { triggerSource = "PostConfirmation_ConfirmSignUp", request = new { userAttributes = new { sub = 42, email = true } } }),
            }, "dead-letter");
        }
    }

    private static string SignUp(string sub, string email, string name, string handle, string trigger) =>
        CognitoEvents.PostConfirmation(handle, email, name, sub, trigger);
}

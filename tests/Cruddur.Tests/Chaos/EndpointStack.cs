using System.Diagnostics;
using System.Text.Json.Nodes;
using Cruddur.Api.Authentication;
using Cruddur.Api.Users;
using Cruddur.Shared.Data;
using Cruddur.Tests.Fixtures;
using Cruddur.Tests.Users;
using Npgsql;

namespace Cruddur.Tests.Chaos;

/// <summary>
/// The production shape the network faults need: a PostgreSQL cluster of its own behind one loopback endpoint
/// (<see cref="TcpForwarder"/>, standing for the RDS endpoint's name), an Api and a Worker process connected
/// through it, a Cognito pool in moto whose users post signed in, and a users queue the Api polls for sign-ups.
/// The test itself reads the database directly (<see cref="Direct"/>), not through the endpoint.
/// </summary>
public sealed class EndpointStack : IAsyncDisposable
{
    private const int Authors = 4;

    private readonly List<IAsyncDisposable> _owned = [];
    private int _signUpsSent;

    private EndpointStack(PostgresServer primary, TestDatabase direct, TcpForwarder endpoint, MotoCognito pool, SqsQueues sqs, string queue)
    {
        Primary = primary;
        Direct = direct;
        Endpoint = endpoint;
        Pool = pool;
        Sqs = sqs;
        Queue = queue;
    }

    public PostgresServer Primary { get; }

    /// <summary>The test's own connection to the database, past the endpoint (replaced by <see cref="FailOverTo"/>).</summary>
    public TestDatabase Direct { get; private set; }

    public TcpForwarder Endpoint { get; }

    public MotoCognito Pool { get; }

    public SqsQueues Sqs { get; }

    public string Queue { get; }

    public ServiceProcess Api { get; private set; } = null!;

    public Uri ApiUrl { get; private set; } = null!;

    public ServiceProcess Worker { get; private set; } = null!;

    public Uri WorkerHealthUrl { get; private set; } = null!;

    /// <summary>The signed-in users' access tokens, for <see cref="ActivityLoad"/>.</summary>
    public IReadOnlyList<string> AccessTokens { get; private set; } = [];

    /// <summary>Sign-ups SQS acknowledged (<see cref="SendSignUpsAsync"/>).</summary>
    public int SignUpsAcknowledged { get; private set; }

    /// <summary>
    /// Starts the cluster (made with <paramref name="initdbOptions"/>; with <paramref name="standby"/>, and its synchronous
    /// standby), the endpoint, the Api and the Worker.
    /// </summary>
    public static async Task<(EndpointStack Stack, PostgresServer? Standby)> StartAsync(MotoServer moto, bool standby = false, IReadOnlyList<string>? initdbOptions = null)
    {
        var clock = Stopwatch.StartNew();
        void Phase(string what) => TestContext.Current.TestOutputHelper?.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: {what}");
        var primary = await PostgresServer.StartOwnAsync(initdbOptions: initdbOptions);
        Phase("own cluster started");
        var db = await TestDatabase.CreateAsync(primary, seed: true);
        var endpoint = new TcpForwarder(primary.Host, primary.Port);
        endpoint.Start();
        var pool = await MotoCognito.CreateAsync(moto);
        var sqs = new SqsQueues(moto);
        var stack = new EndpointStack(primary, db, endpoint, pool, sqs, await sqs.CreateAsync("chaos-network-users", visibilityTimeoutSeconds: 5));
        stack._owned.Add(primary);

        var tokens = new List<string>();
        for (var i = 0; i < Authors; i++)
        {
            var user = await pool.SignUpAndSignInAsync($"chaos_author_{i}");
            await db.ExecuteAsync($"INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES ('Author {i}', '{user.Username}', '{user.Username}@example.com', '{user.Sub}')");
            tokens.Add(user.AccessToken);
        }
        stack.AccessTokens = tokens;
        Phase("database migrated, users signed up and signed in");
        var standbyServer = standby ? await primary.StartStandbyAsync() : null;
        Phase("standby in sync");
        if (standbyServer is not null)
        {
            stack._owned.Add(standbyServer);
        }

        var url = db.Url.Replace($":{primary.Port}/", $":{endpoint.Port}/", StringComparison.Ordinal);
        var healthPort = PortAllocator.Free();
        stack.WorkerHealthUrl = new Uri($"http://127.0.0.1:{healthPort}/healthz");
        stack.Worker = ServiceProcess.StartWorker(url, new Dictionary<string, string?>(ChaosSettings.Worker()) { ["HEALTH_URL"] = $"http://127.0.0.1:{healthPort}/" });
        var apiPort = PortAllocator.Free();
        stack.ApiUrl = ProcessCrashTests.Local(apiPort);
        stack.Api = await ServiceProcess.StartApiAsync(url, apiPort, new Dictionary<string, string?>(moto.Environment)
        {
            ["HANGFIRE_INVISIBILITY_TIMEOUT_SECONDS"] = "15",
            // Four users post thousands a minute: the per-poster limit is off, as an operator sets it for a load test.
            ["POST_RATE_LIMIT_PER_SECOND"] = "0",
            [CognitoAuthenticationOptions.UserPoolIdKey] = pool.PoolId,
            [CognitoAuthenticationOptions.ClientIdsKey] = pool.AppClientId,
            [CognitoUsersIngressOptions.QueueUrlKey] = stack.Queue,
            [CognitoUsersIngressOptions.WaitSecondsKey] = "1",
        });
        Phase("Api answers");
        await Eventually.ReachesAsync(() => HealthAsync(stack.WorkerHealthUrl), answer => answer.Status == 200, "the Worker's health (status, reason)");
        Phase("Worker healthy");
        return (stack, standbyServer);
    }

    /// <summary>The test's own reads now go to <paramref name="server"/> (a promoted standby), the same database.</summary>
    public async Task FailOverTo(PostgresServer server)
    {
        var name = new NpgsqlConnectionStringBuilder(ConnectionUrl.Parse(Direct.Url).ConnectionString).Database!;
        await Direct.DisposeAsync();
        Direct = TestDatabase.Open(PostgresServer.WithDatabase(server.AdminUrl, name));
    }

    /// <summary>Sends a sign-up to the users queue every <paramref name="interval"/> until <paramref name="stop"/> fires, as Cognito's trigger would.</summary>
    public async Task SendSignUpsAsync(TimeSpan interval, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var i = _signUpsSent++;
            var signUp = JsonNode.Parse(CognitoEvents.PostConfirmation(
                handle: $"chaos_net_{i}", email: $"chaos_net_{i}@example.com", name: $"Chaos {i}", sub: new Guid(i, 0x35, 0x35, [0, 0, 0, 0, 0, 0, 0, 2]).ToString()))!;
            signUp["userPoolId"] = Pool.PoolId;
            SignUpsAcknowledged += await Sqs.SendAsync(Queue, [signUp.ToJsonString()]);
            await Task.Delay(interval, CancellationToken.None);
        }
    }

    /// <summary>The sign-ups stored as users, and how many distinct Cognito users they are.</summary>
    public async Task<(long Users, long Distinct)> UsersAsync()
    {
        await using var command = Direct.DataSource.CreateCommand(
            "SELECT count(*), count(DISTINCT cognito_user_id) FROM public.users WHERE starts_with(handle, 'chaos_net_')");
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    /// <summary>Waits until every acknowledged sign-up is a user; if they never are, says where the rest are (SQS, Hangfire).</summary>
    public async Task<(long Users, long Distinct)> SignUpsSettledAsync()
    {
        try
        {
            return await Eventually.ReachesAsync(UsersAsync, users => users.Users >= SignUpsAcknowledged,
                $"{SignUpsAcknowledged} sign-ups stored as users (users, distinct)", TimeSpan.FromSeconds(120));
        }
        catch
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"in the users queue: {await Sqs.CountAsync(Queue)}; Hangfire's queues: " + await Direct.ScalarAsync<string>("""
                SELECT string_agg(format('%s %s %s', queue, CASE WHEN waiting THEN 'waiting' ELSE 'fetched' END, n), ', ')
                FROM (SELECT queue, fetchedat IS NULL AS waiting, count(*) n FROM hangfire.jobqueue GROUP BY 1, 2) q
                """) + "; jobs by state: " + await Direct.ScalarAsync<string>("""
                SELECT string_agg(format('%s %s', statename, n), ', ') FROM (SELECT statename, count(*) n FROM hangfire.job GROUP BY 1) s
                """));
            throw;
        }
    }

    /// <summary>GET a health URL: its status and first line, or 0 and the error when nothing answered.</summary>
    public static async Task<(int Status, string Reason)> HealthAsync(Uri url)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
        try
        {
            using var response = await http.GetAsync(url);
            return ((int)response.StatusCode, (await response.Content.ReadAsStringAsync()).Split('\n')[0]);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return (0, e.Message);
        }
    }

    /// <summary>
    /// From now, the time until a row newer than what the table holds now is stored (posts or users), polled every 50 ms,
    /// up to <paramref name="limit"/>.
    /// </summary>
    public async Task<TimeSpan> NextStoredAsync(string table, string filter, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        long? before = null;
        while (clock.Elapsed < limit)
        {
            try
            {
                var now = await Direct.ScalarAsync<long>($"SELECT count(*) FROM public.{table} WHERE {filter}");
                if (before is null)
                {
                    before = now;
                }
                else if (now > before)
                {
                    return clock.Elapsed;
                }
            }
            catch (NpgsqlException)
            {
                // the test's own pooled connections to a server that died: the next attempt opens a new one
            }
            await Task.Delay(50);
        }
        return clock.Elapsed;
    }

    /// <summary>From now, how long until a post of <paramref name="load"/> and a sign-up are stored (<see cref="NextStoredAsync"/>, up to 60 s each).</summary>
    public async Task<(TimeSpan Post, TimeSpan SignUp)> FirstStoredAsync(ActivityLoad load)
    {
        var posts = NextStoredAsync("activities", $"starts_with(message, '{load.Tag} #')", TimeSpan.FromSeconds(60));
        var signUps = NextStoredAsync("users", "starts_with(handle, 'chaos_net_')", TimeSpan.FromSeconds(60));
        return (await posts, await signUps);
    }

    /// <summary>Waits until the Api's <c>/readyz</c> and the Worker's health both answer 200 (after <paramref name="fault"/>, for the failure's message).</summary>
    public async Task HealthyAgainAsync(string fault)
    {
        await Eventually.ReachesAsync(async () => (await HealthAsync(new Uri(ApiUrl, "/readyz"))).Status, status => status == 200, $"the Api's /readyz after {fault}");
        await Eventually.ReachesAsync(async () => (await HealthAsync(WorkerHealthUrl)).Status, status => status == 200, $"the Worker's health after {fault}");
    }

    /// <summary>Polls both health checks every 500 ms until <paramref name="stop"/> fires: (seconds from the start to the probe, which, status, reason).</summary>
    public async Task<List<(double At, string Process, int Status, string Reason)>> WatchHealthAsync(CancellationToken stop)
    {
        var seen = new List<(double, string, int, string)>();
        var clock = Stopwatch.StartNew();
        while (!stop.IsCancellationRequested)
        {
            var asked = clock.Elapsed.TotalSeconds; // a probe is counted when it was asked: in an outage the answer takes seconds
            var api = HealthAsync(new Uri(ApiUrl, "/readyz"));
            var worker = HealthAsync(WorkerHealthUrl);
            var (apiAnswer, workerAnswer) = (await api, await worker);
            seen.Add((asked, "Api /readyz", apiAnswer.Status, apiAnswer.Reason));
            seen.Add((asked, "Worker /healthz", workerAnswer.Status, workerAnswer.Reason));
            await Task.Delay(500, CancellationToken.None);
        }
        return seen;
    }

    /// <summary>The lines of a process's log that tell of the database's trouble, and whether any holds a secret.</summary>
    public static (int Lines, string? First, int Leaks) OutageLines(ServiceProcess process)
    {
        var lines = process.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var outage = lines.Where(line => line.Contains("Database unavailable", StringComparison.Ordinal)
            || line.Contains("was not committed", StringComparison.Ordinal)
            || line.Contains("Hangfire connection", StringComparison.Ordinal)
            || line.Contains("Database write", StringComparison.Ordinal)
            || line.Contains("unreachable", StringComparison.OrdinalIgnoreCase)).ToList();
        return (outage.Count, outage.FirstOrDefault()?.Trim(), lines.Count(line => SecurityTests.SecretsIn(line).Any()));
    }

    /// <summary>Writes the Api's and the Worker's output, less their routine lines, to the test's log.</summary>
    public void WriteOutputs()
    {
        foreach (var (name, process) in new[] { ("Api", Api), ("Worker", Worker) })
        {
            var lines = process.Output.Split('\n').Where(line => !line.Contains(" succeeded in ", StringComparison.Ordinal)
                && !line.Contains("Request finished", StringComparison.Ordinal) && !line.Contains("Request starting", StringComparison.Ordinal)).TakeLast(300);
            TestContext.Current.TestOutputHelper?.WriteLine($"--- the {name}'s output (tail, without its routine lines)\n{string.Join('\n', lines)}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        WriteOutputs(); // what a failure needs, and an operator would read
        await Api.DisposeAsync();
        await Worker.DisposeAsync();
        await Endpoint.DisposeAsync();
        await Direct.DisposeAsync();
        Sqs.Dispose();
        Pool.Dispose();
        foreach (var owned in _owned)
        {
            await owned.DisposeAsync();
        }
    }
}

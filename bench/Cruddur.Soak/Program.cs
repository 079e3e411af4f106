using System.Diagnostics;
using System.Globalization;
using Amazon.Runtime;
using Amazon.SQS;
using Cruddur.Soak;
using Npgsql;

// bin/soak's driver: see Settings.Usage. Exits 0 when every row of the pass table holds, 1 otherwise, 2 on bad usage.
if (args is ["proxy", ..])
{
    return await ProxyProcess.RunAsync(args); // a partition proxy, started by the driver itself (ProxyProcess)
}
if (Settings.Parse(args) is not { } settings)
{
    Console.Error.WriteLine($"usage: {Settings.Usage}");
    return 2;
}
Directory.CreateDirectory(Path.Combine(settings.OutDir, "logs"));
await using var db = NpgsqlDataSource.Create(settings.DriverConnectionString);
using var sqs = new AmazonSQSClient(new BasicAWSCredentials("testing", "testing"),
    new AmazonSQSConfig { ServiceURL = settings.AwsEndpoint, AuthenticationRegion = "us-east-1" });

var apiPort = Cruddur.Tests.Fixtures.PortAllocator.Free();
var api = new Uri($"http://127.0.0.1:{apiPort}");
var shared = new Dictionary<string, string>
{
    ["JOB_RETENTION"] = settings.Retention.ToString("c", CultureInfo.InvariantCulture),
    ["AWS_ENDPOINT_URL"] = settings.AwsEndpoint,
    ["AWS_REGION"] = "us-east-1",
    ["AWS_ACCESS_KEY_ID"] = "testing",
    ["AWS_SECRET_ACCESS_KEY"] = "testing",
};
await using var worker1 = new AppProcess("worker-1", settings.WorkerDll, settings, shared);
await using var worker2 = new AppProcess("worker-2", settings.WorkerDll, settings, shared);
await using var apiProcess = new AppProcess("api", settings.ApiDll, settings, new Dictionary<string, string>(shared)
{
    ["ASPNETCORE_URLS"] = api.ToString(),
    ["ALLOW_ANONYMOUS_POSTS"] = "true", // the load posts by handle, without a Cognito pool
    ["POST_RATE_LIMIT_PER_SECOND"] = "0", // and from one address, far past one poster's fair share
    ["COGNITO_USERS_QUEUE_URL"] = settings.UsersQueueUrl,
    ["COGNITO_USERS_DLQ_URL"] = settings.UsersDlqUrl,
});
AppProcess[] apps = [apiProcess, worker1, worker2];
foreach (var app in apps)
{
    app.Proxy.Start();
    app.Start();
}

var clock = Stopwatch.StartNew();
var faults = new Faults(settings, clock, db);
using (var http = new HttpClient())
{
    // Ready: the Api answers /readyz and both Workers hold connections (they migrated and started their servers).
    while (!await ReadyAsync())
    {
        if (apps.FirstOrDefault(a => a.HasExited) is { } dead)
        {
            Console.Error.WriteLine($"{dead.Name} stopped during startup; see {settings.OutDir}/logs/{dead.Name}.log");
            return 1;
        }
        if (clock.Elapsed > TimeSpan.FromMinutes(3))
        {
            Console.Error.WriteLine("the Api and Workers were not ready within 3 minutes");
            return 1;
        }
        await Task.Delay(500);
    }
    async Task<bool> ReadyAsync()
    {
        try
        {
            using var ready = await http.GetAsync(new Uri(api, "/readyz"));
            return ready.IsSuccessStatusCode && await faults.ConnectionsAsync(worker1) > 0 && await faults.ConnectionsAsync(worker2) > 0;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }
}
Console.WriteLine(FormattableString.Invariant(
    $"load: {settings.PostRate} posts/s, {settings.FeedRate} feed reads/s, {settings.SignUpRate} sign-ups/s for {settings.Minutes} min; JOB_RETENTION {settings.Retention:c}"));

clock.Restart();
using var load = new Load(settings, api, clock, faults, sqs);
using var disk = new DiskProbe(settings.DiskProbeDir);
var sampler = new Sampler(db, disk);
using var stop = new CancellationTokenSource(settings.Duration);
var loading = load.RunAsync(stop.Token);
var faulting = faults.RunAsync(apiProcess, worker1, worker2, load, CancellationToken.None);
var samples = new List<Sample>();
await using (var csv = new StreamWriter(Path.Combine(settings.OutDir, "samples.csv")))
{
    await csv.WriteLineAsync(Sampler.Header);
    for (var k = 1; k * Load.WindowLength <= settings.Duration; k++)
    {
        var at = k * Load.WindowLength;
        await Task.Delay(at - clock.Elapsed > TimeSpan.Zero ? at - clock.Elapsed : TimeSpan.Zero);
        var sample = await sampler.TakeAsync(at.TotalSeconds, apps, load.WindowAt(k - 1));
        samples.Add(sample);
        await csv.WriteLineAsync(Sampler.ToCsv(sample));
        await csv.FlushAsync();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{at.TotalSeconds,7:F0}s  RSS api {sample.Rss["api"]:F0} / w1 {sample.Rss["worker-1"]:F0} / w2 {sample.Rss["worker-2"]:F0} MB; jobs {sample.JobRows} (queued {sample.QueueDepth}); POST p99 {sample.PostP99:F1} ms ({sample.Posts}); feed p99 {sample.FeedP99:F1} ms; errors {sample.Errors.Values.Sum()}, expected 503s {sample.Expected.Values.Sum()}; disk sync max {sample.DiskSyncMaxMs:F1} ms"));
    }
}
await loading;
var results = await faulting;
// Each 2xx slower than Load.SlowMs, by when it was due and done: a stall shows as a run of them with one end.
await File.WriteAllLinesAsync(Path.Combine(settings.OutDir, "slow.csv"), load.Windows.SelectMany(w => w.Slow).OrderBy(s => s.DueS)
    .Select(s => FormattableString.Invariant($"{s.What},{s.DueS:F3},{s.DoneS:F3},{(s.DoneS - s.DueS) * 1000:F0}")).Prepend("what,due_s,done_s,ms"));

// Every post answered 202 and every sign-up SQS took must be stored exactly once: counted in the database, after
// the Workers drained (a killed Worker's jobs come back after Hangfire's invisibility timeout, 120 s by default).
var accepted = load.AcceptedPosts.Count(b => b == 1);
var signUps = load.SentSignUps.ToArray();
Console.WriteLine($"load done: {accepted} posts acknowledged, {signUps.Length} sign-ups sent; waiting for them to be stored...");
var drain = Stopwatch.StartNew();
while (drain.Elapsed < TimeSpan.FromMinutes(5)
    && (await ScalarAsync("SELECT count(*) FROM public.activities WHERE message LIKE 'soak %'") < accepted
        || await ScalarAsync("SELECT count(*) FROM public.users WHERE handle LIKE 'soaku%'") < signUps.Length))
{
    await Task.Delay(TimeSpan.FromSeconds(2));
}
var stored = new Dictionary<int, int>();
await using (var command = db.CreateCommand("SELECT substr(message, 6)::int, count(*)::int FROM public.activities WHERE message LIKE 'soak %' GROUP BY 1"))
await using (var reader = await command.ExecuteReaderAsync())
{
    while (await reader.ReadAsync())
    {
        stored[reader.GetInt32(0)] = reader.GetInt32(1);
    }
}
var lost = Enumerable.Range(0, load.AcceptedPosts.Length).Count(n => load.AcceptedPosts[n] == 1 && !stored.ContainsKey(n));
var twice = stored.Count(s => s.Value > 1);
var unacknowledged = stored.Keys.Count(n => n >= load.AcceptedPosts.Length || load.AcceptedPosts[n] == 0);
var users = new HashSet<string>(StringComparer.Ordinal);
await using (var command = db.CreateCommand("SELECT cognito_user_id FROM public.users WHERE handle LIKE 'soaku%'"))
await using (var reader = await command.ExecuteReaderAsync())
{
    while (await reader.ReadAsync())
    {
        users.Add(reader.GetString(0));
    }
}
var usersLost = signUps.Count(n => !users.Contains(Load.SignUpSub(n)));

var verdict = new Verdict(settings, samples, results, load, faults.Events);
var table = verdict.Table(accepted, lost, twice, unacknowledged, signUps.Length, usersLost, drain.Elapsed);
Console.WriteLine();
Console.WriteLine(table);
await File.WriteAllTextAsync(Path.Combine(settings.OutDir, "table.md"), table + "\n");
await File.WriteAllLinesAsync(Path.Combine(settings.OutDir, "events.csv"),
    faults.Events.Select(e => FormattableString.Invariant($"{e.At.TotalSeconds:F1},{e.Label}")));
return verdict.Passed ? 0 : 1;

async Task<long> ScalarAsync(string sql)
{
    await using var command = db.CreateCommand(sql);
    return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
}

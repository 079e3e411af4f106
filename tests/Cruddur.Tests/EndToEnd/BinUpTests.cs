using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Cruddur.Shared.Data;
using Cruddur.Tests.Fixtures;
using Npgsql;

namespace Cruddur.Tests.EndToEnd;

/// <summary>The README's first command, as a newcomer runs it: everything on embedded defaults.</summary>
public sealed partial class BinUpTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"cruddur-up-{Guid.NewGuid():N}");
    private readonly int _apiPort = PortAllocator.Free();
    private readonly int _pgPort = PortAllocator.Free();
    private readonly int _motoPort = PortAllocator.Free();

    [Fact]
    public async Task Bin_up_runs_the_whole_system_stores_a_signed_in_post_ingests_a_sign_up_stops_everything_and_reuses_its_data()
    {
        Guid posted;
        await using (var up = Start())
        {
            await up.WaitForOutputAsync("Press Ctrl-C to stop.", TimeSpan.FromMinutes(4));
            Assert.Contains($"Api         http://127.0.0.1:{_apiPort}", up.Output, StringComparison.Ordinal);

            posted = await WithLogsAsync(up, async () =>
            {
                await AssertPostsNeedATokenAsync();
                await AssertTheFrontendsOriginIsAllowedAsync();
                var id = await PostWithThePrintedCurlAsync(up.Output);
                await SignUpThroughSqsAsync(QueueUrl().Match(up.Output).Groups[1].Value);
                return id;
            });

            var pids = (await File.ReadAllLinesAsync(Path.Combine(_data, "up.pids"))).Select(int.Parse).ToList();
            Assert.True(pids.Count >= 5, $"expected postgres, moto, the echo, the Worker and the Api; got {pids.Count}");
            var (exitCode, _) = await up.TerminateAsync(TimeSpan.FromSeconds(90));
            Assert.Equal(143, exitCode);
            Assert.All(pids, pid => Assert.False(IsRunning(pid), $"process {pid} is still running after bin/up stopped"));
        }

        await using var again = Start();
        await again.WaitForOutputAsync("Press Ctrl-C to stop.", TimeSpan.FromMinutes(4));
        Assert.DoesNotContain("creating a PostgreSQL cluster", again.Output, StringComparison.Ordinal);
        using var http = new HttpClient();
        var stored = await http.GetAsync(new Uri($"http://127.0.0.1:{_apiPort}/api/activities/{posted}"));
        Assert.Equal(HttpStatusCode.OK, stored.StatusCode);
        // A new emulator, so a new Cognito user for the kept demo row: its curl still posts.
        await PostWithThePrintedCurlAsync(again.Output);
        await again.TerminateAsync(TimeSpan.FromSeconds(90));
    }

    // A failure names what bin/up printed and its processes' last log lines: the data directory, logs included, is
    // deleted when the test ends. (Once in a full run the Api refused connections right after bin/up said it was ready.)
    private static readonly string[] LoggedProcesses = ["api", "worker", "moto"];

    private async Task<T> WithLogsAsync<T>(ServiceProcess up, Func<Task<T>> steps)
    {
        try
        {
            return await steps();
        }
        catch (Exception e)
        {
            var logs = string.Join("\n", LoggedProcesses.Select(name => Path.Combine(_data, "logs", $"{name}.log")).Where(File.Exists)
                .Select(path => $"--- {Path.GetFileName(path)}, last lines ---\n{string.Join('\n', File.ReadLines(path).TakeLast(30))}"));
            throw new InvalidOperationException($"{e.Message}\n--- bin/up (exited: {up.HasExited}) ---\n{up.Output}\n{logs}", e);
        }
    }

    public void Dispose()
    {
        // The cluster's files belong to the postgres user when the tests run as root; rm copes either way.
        ProcessRunner.RunAsync("rm", ["-rf", _data]).GetAwaiter().GetResult();
    }

    private ServiceProcess Start() => ServiceProcess.StartCommand(
        Path.Combine(Repository.Root, "bin", "up"),
        [],
        new Dictionary<string, string?>
        {
            ["CRUDDUR_DATA_DIR"] = _data,
            ["CRUDDUR_SKIP_BUILD"] = "1", // the test run built the binaries already
            ["API_PORT"] = _apiPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["PG_PORT"] = _pgPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["MOTO_PORT"] = _motoPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["HOME"] = _data, // no ~/.aws/credentials: bin/up starts its own emulator
            ["AWS_REGION"] = null,
            ["AWS_DEFAULT_REGION"] = null,
            ["NO_COLOR"] = "1",
        });

    private async Task AssertPostsNeedATokenAsync()
    {
        using var http = new HttpClient();
        var anonymous = await http.PostAsync(new Uri($"http://127.0.0.1:{_apiPort}/api/activities"), new StringContent(
            """{"user_handle":"demo","message":"Not signed in","ttl":"1-day"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }

    /// <summary>The bootcamp's frontend origin may call the Api from a browser: its preflight is answered for it.</summary>
    private async Task AssertTheFrontendsOriginIsAllowedAsync()
    {
        using var http = new HttpClient();
        using var preflight = new HttpRequestMessage(HttpMethod.Options, new Uri($"http://127.0.0.1:{_apiPort}/api/activities"));
        preflight.Headers.Add("Origin", "http://localhost:3000");
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        preflight.Headers.Add("Access-Control-Request-Headers", "authorization,content-type");
        var response = await http.SendAsync(preflight);
        Assert.Equal("http://localhost:3000", response.Headers.GetValues("Access-Control-Allow-Origin").Single());
    }

    /// <summary>Runs the signed-in curl line bin/up printed, as a newcomer would paste it, and waits for its activity.</summary>
    private async Task<Guid> PostWithThePrintedCurlAsync(string output)
    {
        var curl = SignedInCurl().Match(output);
        Assert.True(curl.Success, $"bin/up printed no signed-in curl line:\n{output}");
        var run = await ProcessRunner.RunAsync("bash", ["-c", curl.Value]);
        Assert.True(run.ExitCode == 0 && run.Stdout.StartsWith("HTTP/1.1 202", StringComparison.Ordinal), run.ToString());
        var accepted = JsonDocument.Parse(run.Stdout.TrimEnd().Split('\n')[^1]).RootElement;
        Assert.Equal("demo", accepted.GetProperty("handle").GetString());

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_apiPort}") };
        var uuid = accepted.GetProperty("uuid").GetGuid();
        await Eventually.ReachesAsync(async () => (await http.GetAsync(new Uri($"/api/activities/{uuid}", UriKind.Relative))).StatusCode,
            status => status == HttpStatusCode.OK, "the posted activity stored (the status of its GET)");
        return uuid;
    }

    private async Task SignUpThroughSqsAsync(string queueUrl)
    {
        var send = await Repository.RunScriptAsync("sqs-send-cognito-event", ["upuser", "up@example.com", "Up User"], new Dictionary<string, string?>
        {
            ["AWS_ENDPOINT_URL"] = $"http://127.0.0.1:{_motoPort}",
            ["AWS_ACCESS_KEY_ID"] = "testing",
            ["AWS_SECRET_ACCESS_KEY"] = "testing",
            ["AWS_REGION"] = "us-east-1",
            ["COGNITO_USERS_QUEUE_URL"] = queueUrl,
        });
        Assert.True(send.ExitCode == 0, send.ToString());

        await using var db = NpgsqlDataSource.Create(ConnectionUrl.Parse($"postgresql://postgres:password@127.0.0.1:{_pgPort}/cruddur").ConnectionString);
        await Eventually.ReachesAsync(async () =>
        {
            await using var command = db.CreateCommand("SELECT count(*) FROM users WHERE handle = 'upuser'");
            return (long)(await command.ExecuteScalarAsync())!;
        }, users => users == 1, "the sign-up a user (users with its handle)");
    }

    // A process that exits between the check and the read has no status file left: it is not running.
    private static bool IsRunning(int pid)
    {
        try
        {
            return !File.ReadAllText($"/proc/{pid}/status").Contains("State:\tZ", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    [GeneratedRegex(@"COGNITO_USERS_QUEUE_URL=(\S+)")]
    private static partial Regex QueueUrl();

    // The printed command: curl, its Authorization: Bearer line and its body, joined by backslash-newlines.
    [GeneratedRegex(@"curl -i -X POST [^\n]*\\\n[^\n]*Authorization: Bearer [A-Za-z0-9_.-]+'[^\n]*\\\n[^\n]*-d '[^']*'")]
    private static partial Regex SignedInCurl();
}

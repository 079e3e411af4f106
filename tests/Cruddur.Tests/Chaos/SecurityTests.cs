using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using Cruddur.Shared.Data;
using Cruddur.Tests.Fixtures;
using Npgsql;

namespace Cruddur.Tests.Chaos;

/// <summary>
/// Who gets in and what leaks: the dashboard's authentication and read-only mode, secrets in logs and
/// answers, stack traces in answers, SQL built from strings, and TLS to any database that is not local.
/// </summary>
[Trait("Category", "Fast chaos")]
public sealed partial class SecurityTests(PostgresServer server, MotoServer moto)
{
    internal const string DashboardUser = "ops";

    internal const string DashboardPassword = "Dash-Secret:7731/x";

    internal const string WrongDatabasePassword = "Wr0ng-Db-Secret-4402";

    [Fact]
    public async Task The_dashboard_refuses_anonymous_users_admits_the_operator_and_honours_read_only()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var port = PortAllocator.Free();
        await using var api = await ServiceProcess.StartApiAsync(db.Url, port, new Dictionary<string, string?>
        {
            ["HANGFIRE_DASHBOARD_USER"] = DashboardUser,
            ["HANGFIRE_DASHBOARD_PASSWORD"] = DashboardPassword,
            ["HANGFIRE_DASHBOARD_READONLY"] = "true",
        });
        using var http = new HttpClient { BaseAddress = ProcessCrashTests.Local(port) };
        var posted = await http.PostAsync(new Uri("/api/activities", UriKind.Relative),
            new StringContent("""{"user_handle":"andrewbrown","message":"queued, no Worker","ttl":"1-day"}""", Encoding.UTF8, "application/json"));
        var jobId = System.Text.Json.JsonDocument.Parse(await posted.Content.ReadAsStringAsync()).RootElement.GetProperty("job_id").GetString()!;

        var anonymous = await http.GetAsync(new Uri("/hangfire", UriKind.Relative));
        var wrong = await SendAsync(http, HttpMethod.Get, "/hangfire", "ops:guess");
        var operatorPage = await SendAsync(http, HttpMethod.Get, "/hangfire/jobs/enqueued", $"{DashboardUser}:{DashboardPassword}");
        var delete = await SendAsync(http, HttpMethod.Post, "/hangfire/jobs/enqueued/delete", $"{DashboardUser}:{DashboardPassword}",
            new FormUrlEncodedContent([KeyValuePair.Create("jobs[]", jobId)]));
        var state = await HangfireJobs.StateAsync(db.DataSource, jobId);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Contains("Basic", anonymous.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.OK, operatorPage.StatusCode);
        Assert.DoesNotContain("Delete selected", await operatorPage.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        Assert.False(delete.IsSuccessStatusCode, $"read-only dashboard accepted a delete: {(int)delete.StatusCode}");
        Assert.Equal("Enqueued", state.State);
    }

    [Fact]
    public async Task Failures_that_log_errors_leak_no_secret_and_no_stack_trace_into_logs_or_answers()
    {
        // A database that refuses connections, an SQS queue that does not exist, a wrong database password.
        await using var nowhere = new TcpForwarder("127.0.0.1", server.Port);
        var downUrl = $"postgresql://postgres:{Uri.EscapeDataString(PostgresServer.Password)}@127.0.0.1:{nowhere.Port}/cruddur";
        var port = PortAllocator.Free();
        var environment = new Dictionary<string, string?>(moto.Environment)
        {
            ["COGNITO_USERS_QUEUE_URL"] = $"{moto.EndpointUrl}/123456789012/no-such-queue-{Guid.NewGuid():N}",
            ["HANGFIRE_DASHBOARD_USER"] = DashboardUser,
            ["HANGFIRE_DASHBOARD_PASSWORD"] = DashboardPassword,
        };
        await using var api = await ServiceProcess.StartApiAsync(downUrl, port, environment);
        await using var worker = ServiceProcess.StartWorker($"postgresql://postgres:{WrongDatabasePassword}@127.0.0.1:{server.Port}/postgres");
        using var http = new HttpClient { BaseAddress = ProcessCrashTests.Local(port) };

        var answers = new List<(string What, HttpResponseMessage Response)>
        {
            ("post while the database is down", await http.PostAsync(new Uri("/api/activities", UriKind.Relative),
                new StringContent("""{"user_handle":"andrewbrown","message":"hi","ttl":"1-day"}""", Encoding.UTF8, "application/json"))),
            ("feed while the database is down", await http.GetAsync(new Uri("/api/activities/home", UriKind.Relative))),
            ("readiness while the database is down", await http.GetAsync(new Uri("/readyz", UriKind.Relative))),
            ("dashboard with a wrong password", await SendAsync(http, HttpMethod.Get, "/hangfire", $"{DashboardUser}:{DashboardPassword}x")),
            ("job id past a long", await http.GetAsync(new Uri("/api/jobs/9999999999999999999", UriKind.Relative))),
        };
        await api.WaitForOutputAsync("receiving from SQS failed", TimeSpan.FromSeconds(60));
        // The secrets are scanned once the Worker has said it cannot log in: its error is what could carry the password.
        await Eventually.ReachesAsync(() => worker.Output, output => output.Contains("password authentication failed", StringComparison.Ordinal),
            "the Worker's log of its refused login");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, answers[0].Response.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, answers[1].Response.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, answers[2].Response.StatusCode); // not ready without its database
        Assert.StartsWith("Unhealthy: Postgres unreachable", await answers[2].Response.Content.ReadAsStringAsync(), StringComparison.Ordinal); // and says why
        Assert.Equal(HttpStatusCode.Unauthorized, answers[3].Response.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, answers[4].Response.StatusCode); // unknown, not a parse failure's 500
        foreach (var (what, response) in answers)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True((int)response.StatusCode < 500 || response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{what}: {(int)response.StatusCode} {body}");
            Assert.False(StackTrace().IsMatch(body) || body.Contains("\\n   at ", StringComparison.Ordinal), $"{what}: a stack trace in the answer:\n{body}");
            Assert.Empty(SecretsIn(body));
        }
        Assert.Empty(SecretsIn(api.Output + worker.Output));
    }

    [Fact]
    public void SQL_in_src_is_never_built_from_strings()
    {
        var offences = new List<string>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Repository.Root, "src"), "*.cs", SearchOption.AllDirectories)
                     .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                                 && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                // Interpolated or concatenated text that reads as SQL may only splice in a template's own text.
                var line = lines[i];
                if (SqlKeyword().IsMatch(line) && (InterpolatedString().IsMatch(line) || Concatenation().IsMatch(line)))
                {
                    var holes = Hole().Matches(line).Select(m => m.Value).Where(h => h != "{sql.Text}").ToList();
                    if (holes.Count > 0 || Concatenation().IsMatch(line))
                    {
                        offences.Add($"{Path.GetRelativePath(Repository.Root, file)}:{i + 1}: {line.Trim()}");
                    }
                }
            }
        }
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Repository.Root, "db"), "*.sql", SearchOption.AllDirectories))
        {
            // No dynamic SQL inside the database either.
            if (DynamicSql().IsMatch(File.ReadAllText(file)))
            {
                offences.Add($"{Path.GetRelativePath(Repository.Root, file)}: EXECUTE or format() builds SQL at run time");
            }
        }

        Assert.True(offences.Count == 0, "SQL built from strings:\n" + string.Join('\n', offences));
    }

    [Fact]
    public async Task A_database_that_is_not_on_this_machine_gets_TLS_and_a_server_without_TLS_is_refused()
    {
        Assert.Equal(SslMode.Require, ConnectionUrl.Parse("postgresql://cruddur:pw@cruddur.abc123.us-east-1.rds.amazonaws.com:5432/cruddur").SslMode);
        Assert.Equal(SslMode.Require, ConnectionUrl.Parse("postgresql://cruddur:pw@10.0.0.5/cruddur").SslMode);
        Assert.Equal(SslMode.VerifyFull, ConnectionUrl.Parse("postgresql://cruddur:pw@db.example.com/cruddur?sslmode=verify-full").SslMode);
        // Plain text to a remote host only when the URL says so, explicitly.
        Assert.Equal(SslMode.Disable, ConnectionUrl.Parse("postgresql://cruddur:pw@db.example.com/cruddur?sslmode=disable").SslMode);
        Assert.NotEqual(SslMode.Require, ConnectionUrl.Parse("postgresql://cruddur:pw@127.0.0.1/cruddur").SslMode);

        // "Require" is enforced, not a wish: the test server speaks no TLS, so the connection is refused.
        var requireTls = ConnectionUrl.Parse(PostgresServer.WithDatabase(server.AdminUrl, "postgres") + "?sslmode=require");
        await using var connection = new NpgsqlConnection(requireTls.ConnectionString);
        var refused = await Assert.ThrowsAsync<NpgsqlException>(() => connection.OpenAsync());
        Assert.Contains("SSL", refused.Message, StringComparison.Ordinal); // refused for TLS, not for any other reason
        Assert.DoesNotContain(PostgresServer.Password, refused.ToString(), StringComparison.Ordinal);
    }

    /// <summary>The secrets this test run uses, in every form a log line could carry them.</summary>
    internal static IEnumerable<string> SecretsIn(string text)
    {
        string[] secrets =
        [
            PostgresServer.Password, Uri.EscapeDataString(PostgresServer.Password), "testing-secret", DashboardPassword,
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{DashboardUser}:{DashboardPassword}")), WrongDatabasePassword,
        ];
        return secrets.Where(secret => text.Contains(secret, StringComparison.Ordinal));
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, HttpMethod method, string path, string credentials, HttpContent? content = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative)) { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials)));
        return await http.SendAsync(request);
    }

    [GeneratedRegex(@"^\s+at \S+\(.*\)", RegexOptions.Multiline)]
    private static partial Regex StackTrace();

    [GeneratedRegex(@"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE DATABASE|DROP)\b")]
    private static partial Regex SqlKeyword();

    [GeneratedRegex(@"\$@?""|@\$""|\$""""""")]
    private static partial Regex InterpolatedString();

    [GeneratedRegex(@"""\s*\+\s*\w|\w\s*\+\s*""")]
    private static partial Regex Concatenation();

    [GeneratedRegex(@"\{[^{}]+\}")]
    private static partial Regex Hole();

    [GeneratedRegex(@"\bEXECUTE\b|\bformat\s*\(", RegexOptions.IgnoreCase)]
    private static partial Regex DynamicSql();
}

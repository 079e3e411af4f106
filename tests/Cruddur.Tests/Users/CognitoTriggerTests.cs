using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Amazon.Runtime;
using Amazon.SQS;
using Cruddur.CognitoTrigger;
using Cruddur.Shared.Aws;
using Cruddur.Tests.Fixtures;
using Microsoft.Extensions.Configuration;

namespace Cruddur.Tests.Users;

/// <summary>
/// The Cognito post-confirmation trigger with the event Cognito really sends (the documented sample, shipped as
/// src/CognitoTrigger/events/post-confirmation-sign-up.json): through the handler to SQS, the Api's ingress, the
/// Worker, and the users table.
/// </summary>
public sealed class CognitoTriggerTests(PostgresServer server, MotoServer moto) : IAsyncLifetime
{
    public static string SampleEventPath { get; } = Path.Combine(Repository.Root, "src", "CognitoTrigger", "events", "post-confirmation-sign-up.json");

    private const string SampleSub = "4f0d5c1e-8a3b-4c6d-9e2f-7a1b3c5d7e90";

    private readonly LogCollector _logs = new();
    private SignUpStack _stack = null!;

    public async ValueTask InitializeAsync() => _stack = await SignUpStack.StartAsync(server, moto, "trigger-sign-ups");
    public ValueTask DisposeAsync() => _stack.DisposeAsync();

    [Fact]
    public async Task The_documented_sign_up_event_becomes_one_user_and_the_same_event_again_is_still_one_user()
    {
        var sample = await File.ReadAllTextAsync(SampleEventPath, TestContext.Current.CancellationToken);
        var trigger = new SignUpForwarder(_stack.Sqs.Client, _stack.Queue, _logs.CreateLogger("trigger"));

        var response = await InvokeAsync(trigger, sample);
        await EventuallyAsync($"SELECT count(*) FROM users WHERE cognito_user_id = '{SampleSub}'", 1);
        Assert.Equal(sample, response); // Cognito gets its event back unchanged
        Assert.Equal("Londo Mollari|londo|lmollari@centari.example", await _stack.Db.ScalarAsync<string>(
            $"SELECT concat_ws('|', display_name, handle, email) FROM users WHERE cognito_user_id = '{SampleSub}'"));

        await InvokeAsync(trigger, sample);
        await EventuallyAsync("SELECT count(*) FROM hangfire.job WHERE statename = 'Succeeded'", 2);
        Assert.Equal(1L, await _stack.Db.ScalarAsync<long>($"SELECT count(*) FROM users WHERE cognito_user_id = '{SampleSub}'"));
        Assert.Equal(3L, await _stack.Db.ScalarAsync<long>("SELECT count(*) FROM users")); // two seeded, one signed up

        Assert.Equal(2, _logs.Lines.Count(l => l.Message.StartsWith($"PostConfirmation_ConfirmSignUp for sub {SampleSub}: queued as SQS message", StringComparison.Ordinal)));
        Assert.DoesNotContain("lmollari", _logs.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("Londo", _logs.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_password_reset_sends_nothing_and_the_user_who_reset_it_is_still_one_user()
    {
        var sample = await File.ReadAllTextAsync(SampleEventPath, TestContext.Current.CancellationToken);
        var trigger = new SignUpForwarder(_stack.Sqs.Client, _stack.Queue, _logs.CreateLogger("trigger"));
        await InvokeAsync(trigger, sample);
        await EventuallyAsync($"SELECT count(*) FROM users WHERE cognito_user_id = '{SampleSub}'", 1);

        var reset = JsonNode.Parse(sample)!;
        reset["triggerSource"] = SignUpForwarder.ForgotPassword;
        var response = await InvokeAsync(trigger, reset.ToJsonString());

        Assert.Equal(reset.ToJsonString(), response);
        Assert.Contains($"PostConfirmation_ConfirmForgotPassword for sub {SampleSub}: a password reset, not a sign-up; nothing queued", _logs.Text, StringComparison.Ordinal);
        await Task.Delay(2000); // a message sent by mistake would be received and ingested by now
        Assert.Equal(0, await _stack.Sqs.CountAsync(_stack.Queue));
        Assert.Equal(1L, await _stack.Db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job"));
        Assert.Equal(1L, await _stack.Db.ScalarAsync<long>($"SELECT count(*) FROM users WHERE cognito_user_id = '{SampleSub}'"));
    }

    [Fact]
    public async Task An_unreachable_queue_makes_the_handler_throw_within_its_budget()
    {
        // Accepts connections and never answers: each SendMessage hangs until its attempt times out.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var endpoint = $"http://127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}";
        var settings = new Dictionary<string, string?>(moto.Environment) { ["AWS_ENDPOINT_URL"] = endpoint };
        using var sqs = new AmazonSQSClient(
            new BasicAWSCredentials("testing", "testing-secret"),
            AwsClientConfiguration.Apply(new AmazonSQSConfig { MaxErrorRetry = 0 }, new ConfigurationBuilder().AddInMemoryCollection(settings).Build()));
        var trigger = new SignUpForwarder(sqs, $"{endpoint}/123456789012/nowhere", _logs.CreateLogger("trigger"));
        var sample = await File.ReadAllTextAsync(SampleEventPath, TestContext.Current.CancellationToken);

        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<SignUpNotQueuedException>(() => InvokeAsync(trigger, sample));

        // The budget is 4 s, inside Cognito's 5 s; the margin is for a loaded machine, not for the design.
        Assert.InRange(clock.Elapsed, SignUpForwarder.DefaultBudget.TotalTimeout - TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(15));
        // Cognito shows the message to the person signing up: nothing of the error's (an AccessDenied names the account, the
        // role and the queue); the log has it.
        Assert.Equal($"The sign-up of sub {SampleSub} was not put on the users queue; the Cognito trigger's log says why.", error.Message);
        Assert.Contains($"Sign-up of sub {SampleSub} not queued (attempts stop after 4 s)", _logs.Text, StringComparison.Ordinal);
        Assert.Contains("Sending the sign-up to SQS: transient error", _logs.Text, StringComparison.Ordinal); // it did retry
        Assert.DoesNotContain("lmollari", error.Message + _logs.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cognito_trigger_invoke_runs_the_handler_and_prints_the_event_it_returns()
    {
        var result = await Repository.RunScriptAsync(
            "cognito-trigger-invoke", [SampleEventPath], new Dictionary<string, string?>(moto.Environment) { ["COGNITO_USERS_QUEUE_URL"] = _stack.Queue });

        Assert.True(result.ExitCode == 0, result.ToString());
        var sample = JsonNode.Parse(await File.ReadAllTextAsync(SampleEventPath, TestContext.Current.CancellationToken))!;
        Assert.True(JsonNode.DeepEquals(sample, JsonNode.Parse(result.Stdout)), result.ToString());
        Assert.Contains($"PostConfirmation_ConfirmSignUp for sub {SampleSub}: queued as SQS message", result.Stderr, StringComparison.Ordinal);
        await EventuallyAsync($"SELECT count(*) FROM users WHERE cognito_user_id = '{SampleSub}'", 1);
    }

    private static async Task<string> InvokeAsync(SignUpForwarder trigger, string body)
    {
        await using var input = new MemoryStream(Encoding.UTF8.GetBytes(body));
        await using var output = await trigger.HandleAsync(input, TestContext.Current.CancellationToken);
        using var reader = new StreamReader(output, Encoding.UTF8);
        return await reader.ReadToEndAsync(TestContext.Current.CancellationToken);
    }

    private Task<long> EventuallyAsync(string countSql, long expected) =>
        Eventually.ReachesAsync(() => _stack.Db.ScalarAsync<long>(countSql), count => count == expected, $"'{countSql}' to reach {expected}");
}

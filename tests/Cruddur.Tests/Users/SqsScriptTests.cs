using System.Text.Json;
using Amazon.SQS.Model;
using Cruddur.Api.Users;
using Cruddur.Shared.Users;
using Cruddur.Tests.Fixtures;

namespace Cruddur.Tests.Users;

/// <summary>The SQS producer scripts, run against moto_server as a developer runs them.</summary>
public sealed class SqsScriptTests(MotoServer moto) : IDisposable
{
    private readonly SqsQueues _sqs = new(moto);

    [Fact]
    public async Task Sqs_create_queues_prints_the_exports_and_redrives_to_the_dead_letter_queue_after_5_receives_and_can_run_again()
    {
        var suffix = Guid.NewGuid().ToString("N");
        var env = Env(new() { ["COGNITO_USERS_QUEUE_NAME"] = $"users-{suffix}", ["COGNITO_USERS_DLQ_NAME"] = $"users-dlq-{suffix}" });

        var first = await Repository.RunScriptAsync("sqs-create-queues", [], env);
        var again = await Repository.RunScriptAsync("sqs-create-queues", [], env);

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.True(again.ExitCode == 0, again.ToString());
        var exports = first.Stdout.Split('\n').Where(line => line.StartsWith("export ", StringComparison.Ordinal))
            .Select(line => line["export ".Length..].Split('=', 2)).ToDictionary(pair => pair[0], pair => pair[1]);
        Assert.Equal($"{moto.EndpointUrl}/123456789012/users-{suffix}", exports["COGNITO_USERS_QUEUE_URL"]);
        Assert.Equal($"{moto.EndpointUrl}/123456789012/users-dlq-{suffix}", exports["COGNITO_USERS_DLQ_URL"]);
        var attributes = await _sqs.Client.GetQueueAttributesAsync(exports["COGNITO_USERS_QUEUE_URL"], ["RedrivePolicy"], TestContext.Current.CancellationToken);
        using var redrive = JsonDocument.Parse(attributes.Attributes["RedrivePolicy"]);
        Assert.Equal($"arn:aws:sqs:{MotoServer.Region}:123456789012:users-dlq-{suffix}", redrive.RootElement.GetProperty("deadLetterTargetArn").GetString());
        Assert.Equal("5", redrive.RootElement.GetProperty("maxReceiveCount").ToString());
    }

    [Fact]
    public async Task Without_a_region_set_the_scripts_act_in_the_aws_cli_profiles_region()
    {
        var suffix = Guid.NewGuid().ToString("N");
        var config = Path.Combine(Path.GetTempPath(), $"aws-config-{suffix}");
        await File.WriteAllTextAsync(config, "[default]\nregion = eu-west-2\n", TestContext.Current.CancellationToken);
        try
        {
            var env = Env(new()
            {
                ["AWS_REGION"] = null, ["AWS_DEFAULT_REGION"] = null, ["AWS_CONFIG_FILE"] = config,
                ["COGNITO_USERS_QUEUE_NAME"] = $"users-{suffix}", ["COGNITO_USERS_DLQ_NAME"] = $"users-dlq-{suffix}",
            });

            var result = await Repository.RunScriptAsync("sqs-create-queues", [], env);

            Assert.True(result.ExitCode == 0, result.ToString());
            using var london = new Amazon.SQS.AmazonSQSClient(new Amazon.Runtime.BasicAWSCredentials("testing", "testing-secret"),
                new Amazon.SQS.AmazonSQSConfig { ServiceURL = moto.EndpointUrl, AuthenticationRegion = "eu-west-2" });
            var arn = (await london.GetQueueAttributesAsync($"{moto.EndpointUrl}/123456789012/users-{suffix}", ["QueueArn"], TestContext.Current.CancellationToken)).QueueARN;
            Assert.Equal($"arn:aws:sqs:eu-west-2:123456789012:users-{suffix}", arn);
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public async Task Sqs_create_queues_with_the_trigger_s_role_sets_a_policy_that_lets_only_that_role_send()
    {
        var suffix = Guid.NewGuid().ToString("N");
        const string role = "arn:aws:iam::123456789012:role/cruddur-cognito-trigger";
        var env = Env(new() { ["COGNITO_USERS_QUEUE_NAME"] = $"users-{suffix}", ["COGNITO_USERS_DLQ_NAME"] = $"users-dlq-{suffix}", ["COGNITO_TRIGGER_ROLE_ARN"] = role });
        var queueArn = $"arn:aws:sqs:{MotoServer.Region}:123456789012:users-{suffix}";

        var result = await Repository.RunScriptAsync("sqs-create-queues", [], env);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"queue policy: only {role} may send to users-{suffix}", result.Stdout, StringComparison.Ordinal);
        var queueUrl = $"{moto.EndpointUrl}/123456789012/users-{suffix}";
        var attributes = await _sqs.Client.GetQueueAttributesAsync(queueUrl, ["Policy"], TestContext.Current.CancellationToken);
        using var policy = JsonDocument.Parse(attributes.Attributes["Policy"]);
        var statements = policy.RootElement.GetProperty("Statement").EnumerateArray().ToDictionary(s => s.GetProperty("Sid").GetString()!);
        var deny = statements["OnlyTheCognitoTriggerSends"];
        Assert.Equal(("Deny", "*", "sqs:SendMessage", queueArn), (deny.GetProperty("Effect").GetString(), deny.GetProperty("Principal").GetString(),
            deny.GetProperty("Action").GetString(), deny.GetProperty("Resource").GetString()));
        Assert.Equal(role, deny.GetProperty("Condition").GetProperty("ArnNotEquals").GetProperty("aws:PrincipalArn").GetString());
        var allow = statements["TheCognitoTriggerSends"];
        Assert.Equal(("Allow", role, queueArn), (allow.GetProperty("Effect").GetString(), allow.GetProperty("Principal").GetProperty("AWS").GetString(),
            allow.GetProperty("Resource").GetString()));
    }

    [Fact]
    public async Task Sqs_create_queues_refuses_a_trigger_role_that_is_not_a_role_arn()
    {
        var result = await Repository.RunScriptAsync("sqs-create-queues", [], Env(new() { ["COGNITO_TRIGGER_ROLE_ARN"] = "cruddur-trigger" }));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("COGNITO_TRIGGER_ROLE_ARN must be an IAM role's ARN", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sqs_send_cognito_event_sends_a_post_confirmation_event_that_parses_into_the_user_and_prints_its_message_id()
    {
        var queue = await _sqs.CreateAsync("script-send");

        var result = await Repository.RunScriptAsync(
            "sqs-send-cognito-event", ["renée", "renee@example.com", "Renée \"Ray\" O'Brien", "sub-renee-1"], Env(new() { ["COGNITO_USERS_QUEUE_URL"] = queue }));

        Assert.True(result.ExitCode == 0, result.ToString());
        var message = Assert.Single(await _sqs.DrainAsync(queue));
        Assert.Equal(message.MessageId, result.Stdout.TrimEnd().Split('\n')[^1]);
        Assert.True(CognitoPostConfirmation.TryParse(message.Body, out var job, out var rejection), rejection);
        Assert.Equal(new IngestCognitoUserJob("sub-renee-1", "renee@example.com", "Renée \"Ray\" O'Brien", "renée"), job);
    }

    [Fact]
    public async Task Sqs_send_cognito_event_without_a_sub_uses_a_fresh_uuid_each_time()
    {
        var queue = await _sqs.CreateAsync("script-uuid");
        var env = Env(new() { ["COGNITO_USERS_QUEUE_URL"] = queue });

        Assert.Equal(0, (await Repository.RunScriptAsync("sqs-send-cognito-event", ["a", "a@example.com", "A"], env)).ExitCode);
        Assert.Equal(0, (await Repository.RunScriptAsync("sqs-send-cognito-event", ["a", "a@example.com", "A"], env)).ExitCode);

        var subs = (await _sqs.DrainAsync(queue)).Select(m => Sub(m)).ToList();
        Assert.Equal(2, subs.Distinct().Count());
        Assert.All(subs, sub => Assert.True(Guid.TryParse(sub, out _), sub));
    }

    [Fact]
    public async Task Sqs_send_cognito_event_without_a_queue_url_or_with_missing_arguments_says_so_and_exits_1()
    {
        var noQueue = await Repository.RunScriptAsync("sqs-send-cognito-event", ["a", "a@example.com", "A"], Env(new() { ["COGNITO_USERS_QUEUE_URL"] = null }));
        var noName = await Repository.RunScriptAsync("sqs-send-cognito-event", ["a", "a@example.com"], Env(new() { ["COGNITO_USERS_QUEUE_URL"] = "http://x" }));

        Assert.Equal(1, noQueue.ExitCode);
        Assert.Contains("COGNITO_USERS_QUEUE_URL is not set", noQueue.Stderr, StringComparison.Ordinal);
        Assert.Equal(1, noName.ExitCode);
        Assert.Contains("usage: bin/sqs-send-cognito-event HANDLE EMAIL \"NAME\" [SUB]", noName.Stderr, StringComparison.Ordinal);
    }

    private Dictionary<string, string?> Env(Dictionary<string, string?> extra)
    {
        var env = new Dictionary<string, string?>(moto.Environment);
        foreach (var (key, value) in extra)
        {
            env[key] = value;
        }
        return env;
    }

    private static string Sub(Message message)
    {
        Assert.True(CognitoPostConfirmation.TryParse(message.Body, out var job, out var rejection), rejection);
        return job.CognitoUserId;
    }

    public void Dispose() => _sqs.Dispose();
}

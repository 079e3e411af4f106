using System.Text.Json;
using Cruddur.CognitoTrigger;
using Cruddur.Tests.Fixtures;

namespace Cruddur.Tests.Users;

/// <summary>bin/cognito-trigger-deploy against moto_server, as an operator runs it against AWS.</summary>
public sealed class CognitoTriggerDeployTests(MotoServer moto) : IDisposable
{
    private readonly SqsQueues _sqs = new(moto);

    [Fact]
    public async Task Deploy_creates_the_function_and_the_trigger_keeps_the_pools_other_settings_and_can_run_again()
    {
        var suffix = Guid.NewGuid().ToString("N")[..12];
        var role = await AwsAsync("iam", "create-role", "--role-name", $"cruddur-trigger-{suffix}", "--query", "Role.Arn", "--output", "text",
            "--assume-role-policy-document", """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}""");
        var preSignUp = $"arn:aws:lambda:{MotoServer.Region}:123456789012:function:pre-sign-up-{suffix}";
        var pool = await AwsAsync("cognito-idp", "create-user-pool", "--pool-name", $"cruddur-{suffix}", "--query", "UserPool.Id", "--output", "text",
            "--policies", """{"PasswordPolicy":{"MinimumLength":12,"RequireUppercase":true,"RequireLowercase":true,"RequireNumbers":true,"RequireSymbols":false,"TemporaryPasswordValidityDays":3}}""",
            "--auto-verified-attributes", "email",
            "--lambda-config", $"PreSignUp={preSignUp}");
        var queue = await _sqs.CreateAsync("deploy");
        var function = $"cruddur-post-confirmation-{suffix}";
        var env = new Dictionary<string, string?>(moto.Environment)
        {
            ["COGNITO_USER_POOL_ID"] = pool,
            ["COGNITO_USERS_QUEUE_URL"] = queue,
            ["COGNITO_TRIGGER_ROLE_ARN"] = role,
            ["COGNITO_TRIGGER_FUNCTION_NAME"] = function,
        };

        var first = await Repository.RunScriptAsync("cognito-trigger-deploy", [], env);
        var again = await Repository.RunScriptAsync("cognito-trigger-deploy", [], env);

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Contains($"created function {function}", first.Stdout, StringComparison.Ordinal);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains($"updated function {function}", again.Stdout, StringComparison.Ordinal);

        using var lambda = JsonDocument.Parse(await AwsAsync("lambda", "get-function", "--function-name", function));
        var configuration = lambda.RootElement.GetProperty("Configuration");
        var functionArn = configuration.GetProperty("FunctionArn").GetString();
        Assert.Equal("dotnet10", configuration.GetProperty("Runtime").GetString());
        Assert.Equal(PostConfirmationFunction.Handler, configuration.GetProperty("Handler").GetString());
        Assert.Equal(role, configuration.GetProperty("Role").GetString());
        Assert.Equal(queue, configuration.GetProperty("Environment").GetProperty("Variables").GetProperty(SignUpForwarder.QueueUrlKey).GetString());

        using var policy = JsonDocument.Parse(await AwsAsync("lambda", "get-policy", "--function-name", function, "--query", "Policy", "--output", "text"));
        var statement = Assert.Single(policy.RootElement.GetProperty("Statement").EnumerateArray());
        Assert.Equal("cognito-idp.amazonaws.com", statement.GetProperty("Principal").GetProperty("Service").GetString());
        Assert.EndsWith($":userpool/{pool}", statement.GetProperty("Condition").GetProperty("ArnLike").GetProperty("AWS:SourceArn").GetString(), StringComparison.Ordinal);

        using var described = JsonDocument.Parse(await AwsAsync("cognito-idp", "describe-user-pool", "--user-pool-id", pool));
        var userPool = described.RootElement.GetProperty("UserPool");
        Assert.Equal(functionArn, userPool.GetProperty("LambdaConfig").GetProperty("PostConfirmation").GetString());
        Assert.Equal(preSignUp, userPool.GetProperty("LambdaConfig").GetProperty("PreSignUp").GetString());
        var password = userPool.GetProperty("Policies").GetProperty("PasswordPolicy");
        Assert.Equal((12, false, 3), (password.GetProperty("MinimumLength").GetInt32(), password.GetProperty("RequireSymbols").GetBoolean(), password.GetProperty("TemporaryPasswordValidityDays").GetInt32()));
        Assert.Equal(["email"], userPool.GetProperty("AutoVerifiedAttributes").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal($"cruddur-{suffix}", userPool.GetProperty("Name").GetString());
    }

    [Fact]
    public async Task Deploy_to_a_pool_that_does_not_exist_fails_before_creating_anything()
    {
        var function = $"cruddur-post-confirmation-{Guid.NewGuid():N}"[..50];
        var env = new Dictionary<string, string?>(moto.Environment)
        {
            ["COGNITO_USER_POOL_ID"] = "us-east-1_doesnotexist",
            ["COGNITO_USERS_QUEUE_URL"] = await _sqs.CreateAsync("deploy-nowhere"),
            ["COGNITO_TRIGGER_ROLE_ARN"] = "arn:aws:iam::123456789012:role/none",
            ["COGNITO_TRIGGER_FUNCTION_NAME"] = function,
        };

        var result = await Repository.RunScriptAsync("cognito-trigger-deploy", [], env);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("error: could not read the user pool us-east-1_doesnotexist", result.Stderr, StringComparison.Ordinal);
        var lookup = await ProcessRunner.RunAsync("aws", ["--endpoint-url", moto.EndpointUrl, "lambda", "get-function", "--function-name", function], moto.Environment);
        Assert.NotEqual(0, lookup.ExitCode);
    }

    /// <summary>The aws CLI against moto_server (v1 ignores AWS_ENDPOINT_URL for some services, hence the flag); fails the test on an error.</summary>
    private async Task<string> AwsAsync(params string[] arguments)
    {
        var result = await ProcessRunner.RunAsync("aws", ["--endpoint-url", moto.EndpointUrl, .. arguments], moto.Environment);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result.Stdout.Trim();
    }

    public void Dispose() => _sqs.Dispose();
}

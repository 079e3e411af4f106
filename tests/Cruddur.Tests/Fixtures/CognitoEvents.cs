using System.Text.Json.Nodes;

namespace Cruddur.Tests.Fixtures;

/// <summary>Cognito trigger events, built one way for every test that sends or parses one.</summary>
public static class CognitoEvents
{
    /// <summary>A post-confirmation event as Cognito hands it to a Lambda (docs/architecture.md, "SQS contract").</summary>
    public static string PostConfirmation(
        string handle = "andrew",
        string email = "andrew@example.com",
        string name = "Andrew Brown",
        string sub = "a1b2c3d4-0000-4000-8000-000000000001",
        string triggerSource = "PostConfirmation_ConfirmSignUp") =>
        new JsonObject
        {
            ["version"] = "1",
            ["triggerSource"] = triggerSource,
            ["region"] = "us-east-1",
            ["userPoolId"] = "us-east-1_Example",
            ["userName"] = handle,
            ["request"] = new JsonObject
            {
                ["userAttributes"] = new JsonObject
                {
                    ["sub"] = sub,
                    ["email"] = email,
                    ["name"] = name,
                    ["preferred_username"] = handle,
                    ["email_verified"] = "true",
                },
            },
            ["response"] = new JsonObject(),
        }.ToJsonString();
}

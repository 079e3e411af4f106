using System.Text.Json.Nodes;
using Cruddur.Api.Users;
using Cruddur.Shared.Users;
using static Cruddur.Tests.Fixtures.CognitoEvents;

namespace Cruddur.Tests.Users;

public class CognitoPostConfirmationTests
{
    [Fact]
    public void A_sign_up_event_maps_name_email_preferred_username_and_sub()
    {
        var parsed = CognitoPostConfirmation.TryParse(PostConfirmation(), out var job, out var rejection);

        Assert.True(parsed, rejection);
        Assert.Equal(new IngestCognitoUserJob("a1b2c3d4-0000-4000-8000-000000000001", "andrew@example.com", "Andrew Brown", "andrew"), job);
    }

    [Fact]
    public void A_forgot_password_confirmation_is_also_a_confirmed_user_and_values_are_trimmed()
    {
        var parsed = CognitoPostConfirmation.TryParse(
            PostConfirmation(name: "  Andrew  ", triggerSource: "PostConfirmation_ConfirmForgotPassword"), out var job, out _);

        Assert.True(parsed);
        Assert.Equal("Andrew", job!.DisplayName);
    }

    public static TheoryData<string?, string> Rejections()
    {
        JsonNode Good() => JsonNode.Parse(PostConfirmation())!;
        string Without(string attribute)
        {
            var node = Good();
            node["request"]!["userAttributes"]!.AsObject().Remove(attribute);
            return node.ToJsonString();
        }
        string With(string attribute, JsonNode? value)
        {
            var node = Good();
            node["request"]!["userAttributes"]![attribute] = value;
            return node.ToJsonString();
        }
        string Top(string property, JsonNode? value)
        {
            var node = Good();
            node[property] = value;
            return node.ToJsonString();
        }
        string TopWithout(string property)
        {
            var node = Good();
            node.AsObject().Remove(property);
            return node.ToJsonString();
        }

        var data = new TheoryData<string?, string>
        {
            { null, "the body is empty" },
            { "   ", "the body is empty" },
            { "not json", "the body is not JSON" },
            { "{\"triggerSource\":", "the body is not JSON" },
            { "[1,2]", "the body is not a JSON object (array)" },
            { "\"text\"", "the body is not a JSON object (string)" },
            { new string('x', CognitoPostConfirmation.MaxBodyLength + 1), $"the body is longer than {CognitoPostConfirmation.MaxBodyLength} characters" },
            { TopWithout("triggerSource"), "triggerSource is missing" },
            { Top("triggerSource", 7), "triggerSource is not a string (number)" },
            { Top("triggerSource", "PreSignUp_SignUp"), "triggerSource 'PreSignUp_SignUp' is not a post confirmation" },
            { Top("triggerSource", "postconfirmation_confirmsignup"), "is not a post confirmation" },
            { TopWithout("request"), "request is missing or not an object" },
            { Top("request", "x"), "request is missing or not an object" },
            { Top("request", new JsonObject()), "request.userAttributes is missing or not an object" },
            { Top("request", new JsonObject { ["userAttributes"] = new JsonArray() }), "request.userAttributes is missing or not an object" },
            { With("email", "no-at-sign.example.com"), "request.userAttributes.email is not an email address" },
            { With("name", "Andrew\u0000Brown"), "request.userAttributes.name contains control characters" },
            // A JSON escape of an unpaired surrogate is valid JSON but not text: reading it used to throw.
            { PostConfirmation().Replace("Andrew Brown", "\\ud800x", StringComparison.Ordinal), "request.userAttributes.name is not valid Unicode text" },
            { PostConfirmation().Replace("PostConfirmation_ConfirmSignUp", "\\udfff", StringComparison.Ordinal), "triggerSource is not valid Unicode text" },
        };
        foreach (var (attribute, maxLength) in new[] { ("sub", 128), ("email", 254), ("preferred_username", 128), ("name", 256) })
        {
            var path = $"request.userAttributes.{attribute}";
            data.Add(Without(attribute), $"{path} is missing");
            data.Add(With(attribute, null), $"{path} is missing");
            data.Add(With(attribute, ""), $"{path} is blank");
            data.Add(With(attribute, " \t "), $"{path} is blank");
            data.Add(With(attribute, 42), $"{path} is not a string (number)");
            data.Add(With(attribute, true), $"{path} is not a string (boolean)");
            data.Add(With(attribute, new JsonObject()), $"{path} is not a string (object)");
            data.Add(With(attribute, new JsonArray("a")), $"{path} is not a string (array)");
            data.Add(With(attribute, new string('a', maxLength - 12) + "@example.com" + "x"), $"{path} is longer than {maxLength} characters");
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Rejections))]
    public void A_body_that_cannot_be_a_user_is_rejected_with_its_reason(string? body, string reason)
    {
        var parsed = CognitoPostConfirmation.TryParse(body, out var job, out var rejection);

        Assert.False(parsed);
        Assert.Null(job);
        Assert.Contains(reason, rejection, StringComparison.Ordinal);
    }

    [Fact]
    public void A_rejection_never_repeats_the_email()
    {
        var node = JsonNode.Parse(PostConfirmation(email: "secret.person@example.com"))!;
        node["request"]!["userAttributes"]!["name"] = 1;

        var parsed = CognitoPostConfirmation.TryParse(node.ToJsonString(), out _, out var rejection);

        Assert.False(parsed);
        Assert.DoesNotContain("secret.person", rejection, StringComparison.Ordinal);
    }
}

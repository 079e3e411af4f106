using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Cruddur.Shared.Users;

namespace Cruddur.Api.Users;

/// <summary>
/// Reads the Cognito PostConfirmation trigger event (the SQS message body, as a Lambda receives it) into an
/// <see cref="IngestCognitoUserJob"/>: <c>name</c> → display name, <c>email</c> → email,
/// <c>preferred_username</c> → handle, <c>sub</c> → cognito user id. Anything that cannot be a user is a
/// rejection with a reason fit for a dead-letter attribute: it names the field, never its value (an email).
/// </summary>
public static class CognitoPostConfirmation
{
    /// <summary>The trigger sources that confirm a user; any other trigger is not a sign-up.</summary>
    public static IReadOnlyList<string> TriggerSources { get; } = ["PostConfirmation_ConfirmSignUp", "PostConfirmation_ConfirmForgotPassword"];

    /// <summary>A trigger event is a few hundred bytes; anything near SQS's 256 KiB limit is not one.</summary>
    public const int MaxBodyLength = 64 * 1024;

    // Cognito's own limits: a username is at most 128 characters, an attribute value at most 2048; an email
    // address at most 254. A sub is a uuid. Longer values are not from Cognito.
    private static readonly (string Attribute, int MaxLength)[] Attributes =
    [
        ("sub", 128),
        ("email", 254),
        ("preferred_username", 128),
        ("name", 256),
    ];

    /// <summary>Parses <paramref name="body"/>, an event of any user pool; never throws on bad input.</summary>
    /// <returns>True with the job, or false with the reason the body is not a confirmed user.</returns>
    public static bool TryParse(
        string? body,
        [NotNullWhen(true)] out IngestCognitoUserJob? job,
        [NotNullWhen(false)] out string? rejection) => TryParse(body, userPoolId: null, out job, out rejection);

    /// <summary>
    /// Parses <paramref name="body"/>; never throws on bad input. With <paramref name="userPoolId"/>, an event whose
    /// <c>userPoolId</c> is missing or another pool's is rejected: only that pool's sign-ups become users.
    /// </summary>
    /// <returns>True with the job, or false with the reason the body is not a confirmed user of the pool.</returns>
    public static bool TryParse(
        string? body,
        string? userPoolId,
        [NotNullWhen(true)] out IngestCognitoUserJob? job,
        [NotNullWhen(false)] out string? rejection)
    {
        job = null;
        rejection = Read(body, userPoolId, out var values);
        if (rejection is not null)
        {
            return false;
        }
        job = new IngestCognitoUserJob(
            CognitoUserId: values["sub"],
            Email: values["email"],
            DisplayName: values["name"],
            Handle: values["preferred_username"]);
        return true;
    }

    private static string? Read(string? body, string? userPoolId, out Dictionary<string, string> values)
    {
        values = new Dictionary<string, string>(StringComparer.Ordinal);
        if (string.IsNullOrWhiteSpace(body))
        {
            return "the body is empty";
        }
        if (body.Length > MaxBodyLength)
        {
            return $"the body is longer than {MaxBodyLength} characters";
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            return "the body is not JSON";
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return $"the body is not a JSON object ({Kind(root)})";
            }
            if (!root.TryGetProperty("triggerSource", out var trigger) || trigger.ValueKind == JsonValueKind.Null)
            {
                return "triggerSource is missing";
            }
            if (trigger.ValueKind != JsonValueKind.String)
            {
                return $"triggerSource is not a string ({Kind(trigger)})";
            }
            if (!TryGetText(trigger, out var source))
            {
                return "triggerSource is not valid Unicode text";
            }
            if (!TriggerSources.Contains(source, StringComparer.Ordinal))
            {
                // The trigger name is Cognito's, not the user's: safe to echo, but bounded.
                return $"triggerSource '{Truncate(source, 64)}' is not a post confirmation";
            }
            if (userPoolId is not null)
            {
                // A pool id names a pool, not a person: safe to echo, but bounded.
                if (!root.TryGetProperty("userPoolId", out var pool) || pool.ValueKind != JsonValueKind.String || !TryGetText(pool, out var poolId))
                {
                    return "userPoolId is missing or not a string";
                }
                if (!string.Equals(poolId, userPoolId, StringComparison.Ordinal))
                {
                    return $"userPoolId '{Truncate(poolId, 64)}' is not this Api's user pool (COGNITO_USER_POOL_ID)";
                }
            }
            if (!root.TryGetProperty("request", out var request) || request.ValueKind != JsonValueKind.Object)
            {
                return "request is missing or not an object";
            }
            if (!request.TryGetProperty("userAttributes", out var attributes) || attributes.ValueKind != JsonValueKind.Object)
            {
                return "request.userAttributes is missing or not an object";
            }

            foreach (var (name, maxLength) in Attributes)
            {
                var path = $"request.userAttributes.{name}";
                if (!attributes.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
                {
                    return $"{path} is missing";
                }
                if (element.ValueKind != JsonValueKind.String)
                {
                    return $"{path} is not a string ({Kind(element)})";
                }
                if (!TryGetText(element, out var text))
                {
                    return $"{path} is not valid Unicode text";
                }
                var value = text.Trim();
                if (value.Length == 0)
                {
                    return $"{path} is blank";
                }
                if (value.Length > maxLength)
                {
                    return $"{path} is longer than {maxLength} characters";
                }
                if (value.Any(char.IsControl))
                {
                    return $"{path} contains control characters";
                }
                values[name] = value;
            }
        }

        if (!values["email"].Contains('@', StringComparison.Ordinal))
        {
            return "request.userAttributes.email is not an email address";
        }
        return null;
    }

    /// <summary>
    /// An escaped unpaired surrogate (<c>"\ud800"</c>) is valid JSON but not text: <c>GetString</c> throws on it.
    /// </summary>
    private static bool TryGetText(JsonElement element, out string text)
    {
        try
        {
            text = element.GetString()!;
            return true;
        }
        catch (InvalidOperationException)
        {
            text = "";
            return false;
        }
    }

    private static string Kind(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        _ => "null",
    };

    private static string Truncate(string value, int length) =>
        value.Length <= length ? value : value[..length] + "...";
}

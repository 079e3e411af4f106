using System.Globalization;
using System.Text.Json.Serialization;

namespace Cruddur.Api.Activities;

/// <summary>The body of <c>POST /api/activities</c>, as the Cruddur frontend sends it. Any field may be missing.</summary>
public sealed record PostActivityRequest(
    [property: JsonPropertyName("user_handle")] string? UserHandle,
    [property: JsonPropertyName("message")] string? Message,
    [property: JsonPropertyName("ttl")] string? Ttl);

/// <summary>The seed's CreateActivity checks, reporting every error found instead of only the last.</summary>
public static class ActivityValidation
{
    /// <summary>Longest message, counted as a person counts characters (an emoji or a letter with its accents is one).</summary>
    public const int MaxMessageLength = 280;

    /// <summary>The lifetimes a post may choose, as the frontend names them.</summary>
    public static IReadOnlyDictionary<string, TimeSpan> Ttls { get; } = new Dictionary<string, TimeSpan>(StringComparer.Ordinal)
    {
        ["30-days"] = TimeSpan.FromDays(30),
        ["7-days"] = TimeSpan.FromDays(7),
        ["3-days"] = TimeSpan.FromDays(3),
        ["1-day"] = TimeSpan.FromDays(1),
        ["12-hours"] = TimeSpan.FromHours(12),
        ["3-hours"] = TimeSpan.FromHours(3),
        ["1-hour"] = TimeSpan.FromHours(1),
    };

    /// <summary>
    /// The error codes for <paramref name="post"/> that need no database: <c>user_handle_blank</c>,
    /// <c>message_blank</c>, <c>message_exceed_max_chars</c>, <c>ttl_blank</c> or <c>ttl_invalid</c> (not one of <see cref="Ttls"/>), in that order.
    /// </summary>
    public static List<string> Validate(PostActivityRequest post)
    {
        ArgumentNullException.ThrowIfNull(post);
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(post.UserHandle))
        {
            errors.Add("user_handle_blank");
        }
        if (string.IsNullOrWhiteSpace(post.Message))
        {
            errors.Add("message_blank");
        }
        else if (CharacterCount(post.Message) > MaxMessageLength)
        {
            errors.Add("message_exceed_max_chars");
        }
        if (string.IsNullOrWhiteSpace(post.Ttl))
        {
            errors.Add("ttl_blank");
        }
        else if (!Ttls.ContainsKey(post.Ttl))
        {
            // The seed answered ttl_blank here too; a client that sent "2-days" deserves to know it was read.
            errors.Add("ttl_invalid");
        }
        return errors;
    }

    /// <summary>
    /// Characters as a reader sees them: extended grapheme clusters, so "👍🏽" or "é" written as e + U+0301 is one,
    /// while a string of 300 combining marks on one letter is still one character (and 280 such clusters is the cap).
    /// </summary>
    public static int CharacterCount(string text) => new StringInfo(text).LengthInTextElements;
}

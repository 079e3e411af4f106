using System.Text;
using System.Text.Json;

namespace Cruddur.Tests.Chaos;

/// <summary>
/// Generated hostile requests, reproducible from a seed: random bytes, deep nesting, huge strings, wrong
/// types, nulls, invalid UTF-8, Unicode edge cases (NUL, lone surrogates, BOM, bidi controls, combining marks),
/// extra and duplicate fields, SQL in strings, odd content types and Idempotency-Keys.
/// </summary>
public sealed class HostileInput(int seed)
{
    private static readonly string[] Edges =
    [
        "\\u0000", "a\\u0000b", "\\ud800", "\\udfff", "\\ud83d", "\uFEFF", "\u202Eevil", "\u200B", "\uFFFF", "\uFFFE",
        "e\u0301", new string('\u0301', 5000), "👍🏽", "👨‍👩‍👧‍👦", "\u0085", "\u2028", "\t\r\n", "' OR 1=1 --", "'); DROP TABLE users; --",
        "%s%n%x", "{0}{1}", "${jndi:ldap://x}", "<script>alert(1)</script>", "andrewbrown\\u0000", "ANDREWBROWN", " andrewbrown ",
    ];

    private static readonly string[] Ttls = ["1-day", "7-days", "30-days", "1-hour", "forever", "", "1-DAY", "-1"];

    private readonly Random _random = new(seed);

    /// <summary>
    /// A hostile post. <paramref name="MayBeValid"/>: the body can be a valid post (valid-looking fields, extra
    /// fields, odd Unicode in well-typed fields), so a 202 is a right answer; any other kind must get a 4xx.
    /// </summary>
    public sealed record Request(string Kind, byte[] Body, string? ContentType, string? IdempotencyKey, bool MayBeValid);

    /// <summary>A hostile GET; <paramref name="MayBeFound"/>: an empty parameter, which means "the default", may answer 200.</summary>
    public sealed record Probe(string Path, bool MayBeFound);

    public IEnumerable<Request> Bodies(int count)
    {
        for (var i = 0; i < count; i++)
        {
            var kind = _random.Next(10);
            var (name, body) = kind switch
            {
                0 => ("random bytes", RandomBytes(_random.Next(0, 3000))),
                1 => ("deep nesting", Utf8(Nested(_random.Next(1, 20000)))),
                2 => ("huge string", Utf8(Post(message: Quote(new string('x', _random.Next(1000, 1_200_000)))))),
                3 => ("wrong types", Utf8(Post(AnyValue(), AnyValue(), AnyValue()))),
                4 => ("nulls", Utf8(Post(Maybe("null"), Maybe("null"), Maybe("null")))),
                5 => ("invalid UTF-8", InvalidUtf8()),
                6 => ("unicode edges", Utf8(Post(EdgeString(), EdgeString(), Maybe(Quote(Pick(Ttls)))))),
                7 => ("extra fields", Utf8(ExtraFields())),
                8 => ("valid-looking", Utf8(Post(Quote(Pick(["andrewbrown", "bayko", "nobody", "' OR ''='"])), Quote($"fuzz {i}"), Quote(Pick(Ttls))))),
                _ => ("truncated JSON", Truncated()),
            };
            yield return new Request(name, body, ContentType(), _random.Next(5) == 0 ? Key() : null, MayBeValid: kind is 6 or 7 or 8);
        }
    }

    private string ContentType() => _random.Next(12) switch
    {
        0 => "text/plain",
        1 => "application/x-www-form-urlencoded",
        2 => "application/json; charset=utf-16",
        3 => "application/json; charset=latin1",
        4 => "application/problem+json",
        5 => "",
        _ => "application/json",
    };

    private string Key() => _random.Next(4) switch
    {
        0 => Guid.NewGuid().ToString(),
        1 => new string('k', _random.Next(200, 400)),
        2 => "key with spaces",
        _ => $"fuzz-{_random.Next(50)}", // reused across different bodies: 422, not a replay of another post
    };

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private static string Quote(string text) => JsonSerializer.Serialize(text);

    private string Maybe(string json) => _random.Next(3) == 0 ? json : Quote("x");

    private T Pick<T>(IReadOnlyList<T> items) => items[_random.Next(items.Count)];

    private static string Post(string? handle = "\"andrewbrown\"", string? message = "\"hello\"", string? ttl = "\"1-day\"") =>
        $$"""{"user_handle":{{handle}},"message":{{message}},"ttl":{{ttl}}}""";

    private byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        _random.NextBytes(bytes);
        return bytes;
    }

    private string Nested(int depth)
    {
        var open = _random.Next(2) == 0 ? "[" : "{\"a\":";
        var close = open == "[" ? "]" : "}";
        return $$"""{"user_handle":"andrewbrown","message":{{string.Concat(Enumerable.Repeat(open, depth))}}1{{string.Concat(Enumerable.Repeat(close, depth))}},"ttl":"1-day"}""";
    }

    private string AnyValue() => _random.Next(9) switch
    {
        0 => "123",
        1 => "-1.5e308",
        2 => "true",
        3 => "[]",
        4 => "{}",
        5 => "[\"andrewbrown\"]",
        6 => "{\"handle\":\"andrewbrown\"}",
        7 => "null",
        _ => "\"andrewbrown\"",
    };

    // Escapes like \u0000 and \ud800 are written raw into the JSON (they are JSON escapes, not C# ones).
    private string EdgeString() => "\"" + Pick(Edges).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    private byte[] InvalidUtf8()
    {
        byte[][] bad = [[0xC3, 0x28], [0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0x80]];
        var prefix = Utf8("{\"user_handle\":\"andrewbrown\",\"message\":\"");
        var suffix = Utf8("\",\"ttl\":\"1-day\"}");
        return [.. prefix, .. Pick(bad), .. suffix];
    }

    private string ExtraFields() => _random.Next(4) switch
    {
        0 => """{"user_handle":"andrewbrown","message":"hi","ttl":"1-day","uuid":"00000000-0000-0000-0000-000000000000","created_at":"1999-01-01","admin":true}""",
        1 => """{"user_handle":"andrewbrown","user_handle":"bayko","message":"hi","ttl":"1-day"}""",
        2 => """{"USER_HANDLE":"andrewbrown","Message":"hi","TTL":"1-day"}""",
        _ => """{"user_handle":"andrewbrown","message":"hi","ttl":"1-day","__proto__":{"x":1},"constructor":null}""",
    };

    private byte[] Truncated()
    {
        var full = Utf8(Post());
        return full[.._random.Next(0, full.Length)];
    }

    /// <summary>Paths and query strings: limits, cursors, uuids and job ids that are not what they claim.</summary>
    public IEnumerable<Probe> Paths(int count)
    {
        string[] values = ["-1", "0", "101", "abc", "1e9", "99999999999999999999", "%00", "' OR 1=1", "AAAA", "\u0000", new string('9', 19), "9223372036854775808", ""];
        for (var i = 0; i < count; i++)
        {
            var value = Uri.EscapeDataString(Pick(values));
            var feed = _random.Next(4);
            yield return feed switch
            {
                0 => new Probe($"/api/activities/home?limit={value}", value.Length == 0),
                1 => new Probe($"/api/activities/home?before={value}", value.Length == 0),
                // "101" can name a real job (the same test posts hundreds): its 200 is right.
                2 => new Probe($"/api/jobs/{value}", long.TryParse(value, out var job) && job > 0),
                _ => new Probe($"/api/activities/{value}", false),
            };
        }
    }
}

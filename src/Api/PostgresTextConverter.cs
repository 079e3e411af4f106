using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Cruddur.Api;

/// <summary>
/// Reads a JSON string only if PostgreSQL's <c>text</c> can store it: no U+0000 (Postgres refuses it, so a
/// post carrying one failed with a 500, or was accepted and then failed in the Worker) and no unpaired
/// surrogate (not Unicode, so not UTF-8). A client gets 400 naming the field instead.
/// </summary>
public sealed class PostgresTextConverter : JsonConverter<string>
{
    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException("expected a string");
        }
        var text = reader.GetString()!;
        if (text.Contains('\0', StringComparison.Ordinal) || !IsWellFormed(text))
        {
            throw new JsonException("the text holds U+0000 or an unpaired surrogate, which cannot be stored");
        }
        return text;
    }

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);

    private static bool IsWellFormed(string text)
    {
        for (var i = 0; i < text.Length;)
        {
            if (Rune.DecodeFromUtf16(text.AsSpan(i), out _, out var consumed) != System.Buffers.OperationStatus.Done)
            {
                return false;
            }
            i += consumed;
        }
        return true;
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace Cruddur.Shared.Jobs;

/// <summary>How a contract travels inside a job: JSON, snake_case, the same for the Api and the Worker.</summary>
public static class JobPayload
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);
}

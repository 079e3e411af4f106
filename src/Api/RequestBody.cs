using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Cruddur.Api;

/// <summary>
/// Reads a JSON body with the errors a client can act on: 400 problem details for a wrong content type,
/// malformed JSON or a field of the wrong type (naming the field), 413 past the size limit.
/// </summary>
public static class RequestBody
{
    // A missing field is not a JSON error: the validation reports it as blank, with the other errors.
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        MaxDepth = 16,
        RespectNullableAnnotations = true,
        Converters = { new PostgresTextConverter() },
    };

    public static async Task<(T? Value, ProblemHttpResult? Problem)> ReadJsonAsync<T>(HttpRequest request, int maxBytes, CancellationToken cancellationToken)
        where T : class
    {
        if (!request.HasJsonContentType())
        {
            CloseIfUnread(request, maxBytes);
            return (null, Problem(StatusCodes.Status400BadRequest, "Unsupported content type",
                $"Send the body as JSON with Content-Type: application/json (got '{request.ContentType}')."));
        }
        if (request.ContentLength > maxBytes)
        {
            CloseIfUnread(request, maxBytes);
            return (null, TooLarge(maxBytes));
        }

        var buffer = new MemoryStream();
        var chunk = new byte[4096];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > maxBytes)
            {
                request.HttpContext.Response.Headers.Connection = "close";
                return (null, TooLarge(maxBytes));
            }
            buffer.Write(chunk, 0, read);
        }

        try
        {
            var value = JsonSerializer.Deserialize<T>(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), Options);
            return value is null
                ? (null, Problem(StatusCodes.Status400BadRequest, "Malformed JSON", "The body must be a JSON object."))
                : (value, null);
        }
        catch (JsonException e)
        {
            // The path names the field; the message never echoes the body.
            var where = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "the body" : e.Path.TrimStart('$', '.');
            return (null, Problem(StatusCodes.Status400BadRequest, "Malformed JSON",
                $"{where} is not valid here: send a JSON object whose fields are strings of Unicode text (without U+0000)."));
        }
    }

    // A body left unread may be too big for Kestrel to drain, and then it drops the connection after the answer:
    // a client that reused that connection for its next request would see it die. Saying so lets it open a new one.
    private static void CloseIfUnread(HttpRequest request, int maxBytes)
    {
        if (request.ContentLength is not { } length || length > maxBytes)
        {
            request.HttpContext.Response.Headers.Connection = "close";
        }
    }

    private static ProblemHttpResult TooLarge(int maxBytes) =>
        Problem(StatusCodes.Status413PayloadTooLarge, "Body too large", $"The body may be at most {maxBytes} bytes.");

    private static ProblemHttpResult Problem(int status, string title, string detail) =>
        TypedResults.Problem(statusCode: status, title: title, detail: detail);
}

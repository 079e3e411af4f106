using System.Buffers;
using System.IO.Pipelines;
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
        if (!IsJson(request.ContentType) && !request.HasJsonContentType())
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

        // The body is parsed where Kestrel buffered it: no copy, no buffer of our own per request.
        var body = request.BodyReader;
        ReadResult read;
        while (true)
        {
            read = await body.ReadAsync(cancellationToken);
            if (read.Buffer.Length > maxBytes)
            {
                body.AdvanceTo(read.Buffer.End);
                request.HttpContext.Response.Headers.Connection = "close";
                return (null, TooLarge(maxBytes));
            }
            if (read.IsCompleted)
            {
                break;
            }
            body.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }

        try
        {
            var value = Deserialize<T>(read.Buffer);
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
        finally
        {
            body.AdvanceTo(read.Buffer.End);
        }
    }

    // The span overload, unlike the reader's, refuses anything after the one JSON value. A body that arrived in pieces is
    // joined in a pooled array.
    private static T? Deserialize<T>(ReadOnlySequence<byte> body)
    {
        if (body.IsSingleSegment)
        {
            return JsonSerializer.Deserialize<T>(body.FirstSpan, Options);
        }
        var joined = ArrayPool<byte>.Shared.Rent((int)body.Length);
        try
        {
            body.CopyTo(joined);
            return JsonSerializer.Deserialize<T>(joined.AsSpan(0, (int)body.Length), Options);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(joined);
        }
    }

    // What clients send, checked without parsing it into a MediaTypeHeaderValue (5% of the Api's allocations under the POST
    // load); anything else takes the framework's full check.
    private static bool IsJson(string? contentType) =>
        string.Equals(contentType, "application/json", StringComparison.OrdinalIgnoreCase)
        || string.Equals(contentType, "application/json; charset=utf-8", StringComparison.OrdinalIgnoreCase);

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

using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Cruddur.Api.Authentication;
using Cruddur.Api.Users;
using Cruddur.Shared.Data;
using Cruddur.Shared.Resilience;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace Cruddur.Api.Activities;

/// <summary>
/// <c>Idempotency-Key</c> on POST /api/activities: the same key from the same user (the signed-in user, or without
/// authentication the body's <c>user_handle</c>) within 24 hours answers the first 202 again (status, body, Location)
/// and never makes a second activity. Crash-safe without a transaction across the job and the key: the activity's
/// uuid is derived from (handle, key), so a retry after the Api died between enqueueing and recording enqueues the
/// same uuid, and the Worker's insert (idempotent on uuid) stores it once. Only 202s are recorded: a 4xx is the same on retry.
/// </summary>
public sealed class IdempotencyFilter(
    Db db, UserDirectory users, IOptions<JsonOptions> json, ILogger<IdempotencyFilter> logger) : IEndpointFilter
{
    public const string HeaderName = "Idempotency-Key";

    /// <summary>Longest key accepted: room for a UUID, a hash or a client's own scheme, not for a payload.</summary>
    public const int MaxKeyLength = 255;

    // A fixed namespace for the name-based uuids (RFC 9562 §5.5): a key maps to the same uuid on every Api.
    private static readonly Guid Namespace = new("5b1c3a8e-9f2d-4c61-8a7e-0d4f6b2e1c93");

    /// <summary>A version-5 (SHA-1, name-based) uuid for a user's key and its generation.</summary>
    public static Guid DeterministicUuid(string handle, string key, int generation)
    {
        var name = Encoding.UTF8.GetBytes($"{handle}\n{key}\n{generation}");
        var input = new byte[16 + name.Length];
        Namespace.TryWriteBytes(input, bigEndian: true, out _);
        name.CopyTo(input, 16);
#pragma warning disable CA5350 // RFC 9562 defines version 5 on SHA-1; a name hash, not a security boundary
        var hash = SHA1.HashData(input);
#pragma warning restore CA5350
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50); // version 5
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80); // RFC variant
        return new Guid(hash.AsSpan(0, 16), bigEndian: true);
    }

    /// <summary>Why the header is unusable, or null when it is a good key.</summary>
    public static string? Invalid(string? key) => key switch
    {
        null or "" => "Idempotency-Key is empty.",
        { Length: > MaxKeyLength } => $"Idempotency-Key may be at most {MaxKeyLength} characters.",
        _ when key.Any(c => c is < '!' or > '~') => "Idempotency-Key must be printable ASCII without spaces.",
        _ => null,
    };

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (!http.Request.Headers.TryGetValue(HeaderName, out var values))
        {
            return await next(context);
        }
        var key = values.Count == 1 ? values[0] : null;
        if ((values.Count == 1 ? Invalid(key) : $"Send one {HeaderName} header.") is { } why)
        {
            return Problem(StatusCodes.Status400BadRequest, "Bad Idempotency-Key", why);
        }

        // The body was read once, when the request was bound; a 400 or 413 for it is the handler's answer.
        var bodyIndex = Enumerable.Range(0, context.Arguments.Count).First(i => context.Arguments[i] is PostActivityBody);
        var body = (PostActivityBody)context.Arguments[bodyIndex]!;
        if (body.Post is not { } post)
        {
            return await next(context);
        }
        var cancellationToken = http.RequestAborted;
        // Signed in, a key belongs to the token's user, whatever the body says (a 403 follows if it names another).
        var handle = SignedInUser.CognitoUserId(http) is null
            ? post.UserHandle
            : (await SignedInUser.FindAsync(http, users, cancellationToken))?.Handle;
        if (string.IsNullOrWhiteSpace(handle))
        {
            return await next(context); // a 422 (or a 409: the sign-up is not stored yet) follows; nothing to remember
        }

        var fingerprint = Convert.ToHexString(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(post)));
        var recorded = await FindAsync(handle, key!, cancellationToken);
        if (recorded is { Expired: false })
        {
            return recorded.Fingerprint == fingerprint
                ? Replay(http, recorded)
                : Problem(StatusCodes.Status422UnprocessableEntity, "Idempotency-Key reused",
                    "This Idempotency-Key was used with a different post in the last 24 hours; use a new key for a new post.");
        }

        var generation = recorded is null ? 0 : recorded.Generation + 1;
        // The handler stores the activity under this uuid: a retry of the key makes the same activity.
        context.Arguments[bodyIndex] = body with { Uuid = DeterministicUuid(handle, key!, generation) };
        var result = await next(context);
        if ((result is INestedHttpResult nested ? nested.Result : result) is not Accepted<AcceptedActivity> accepted)
        {
            return result;
        }

        var answer = new Answer(generation, fingerprint, accepted.StatusCode, accepted.Location,
            JsonSerializer.Serialize(accepted.Value, json.Value.SerializerOptions), Expired: false);
        try
        {
            if (!await RecordAsync(handle, key!, answer))
            {
                // A concurrent request with the key recorded first (its job has the same uuid): its answer is the first.
                if (await FindAsync(handle, key!, CancellationToken.None) is { } first)
                {
                    return Replay(http, first);
                }
            }
        }
        catch (Exception e) when (TransientErrors.IsTransient(e))
        {
            // The job is committed, so the 202 is true; a retry with the key enqueues the same uuid, stored once.
            logger.LogWarning("Recording an Idempotency-Key answer failed ({Error}); a retry is still safe: same activity uuid", e.Message);
        }
        return result;
    }

    private Task<Answer?> FindAsync(string handle, string key, CancellationToken cancellationToken) =>
        db.QueryRowAsync(db.Template("idempotency", "find"), new SqlParameters
        {
            ["user_handle"] = handle,
            ["key"] = key,
        }, row => new Answer(
            row.GetInt32(row.GetOrdinal("generation")), row.GetString(row.GetOrdinal("fingerprint")), row.GetInt32(row.GetOrdinal("status")),
            row.IsDBNull(row.GetOrdinal("location")) ? null : row.GetString(row.GetOrdinal("location")), row.GetString(row.GetOrdinal("body")),
            row.GetBoolean(row.GetOrdinal("expired"))), cancellationToken);

    // Not cancellable: the job is already committed, and its answer should be remembered even if the client left.
    private async Task<bool> RecordAsync(string handle, string key, Answer answer) =>
        await db.QueryCommitAsync<int?>(db.Template("idempotency", "record"), new SqlParameters
        {
            ["user_handle"] = handle,
            ["key"] = key,
            ["generation"] = answer.Generation,
            ["fingerprint"] = answer.Fingerprint,
            ["status"] = answer.Status,
            ["location"] = answer.Location,
            ["body"] = answer.Body,
        }, CancellationToken.None) is not null;

    private static ContentHttpResult Replay(HttpContext http, Answer answer)
    {
        if (answer.Location is not null)
        {
            http.Response.Headers.Location = answer.Location;
        }
        http.Response.Headers["Idempotent-Replayed"] = "true";
        return TypedResults.Text(answer.Body, "application/json", Encoding.UTF8, answer.Status);
    }

    private static ProblemHttpResult Problem(int status, string title, string detail) =>
        TypedResults.Problem(statusCode: status, title: title, detail: detail);

    private sealed record Answer(int Generation, string Fingerprint, int Status, string? Location, string Body, bool Expired);
}

using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Cruddur.Shared.Data;

namespace Cruddur.Api.Activities;

/// <summary>
/// <c>Idempotency-Key</c> on POST /api/activities, as eShop's request manager: the answers recorded per (user, key), kept
/// 24 hours (<c>db/sql/idempotency/</c>). Crash-safe without a transaction across the job and the record: the activity's
/// uuid is derived from (handle, key), so a retry after the Api died between enqueueing and recording enqueues the same
/// uuid, and the Worker's insert (idempotent on uuid) stores it once. <see cref="PostActivityHandler"/> uses it.
/// </summary>
public sealed class IdempotencyKeys(Db db)
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

    /// <summary>What tells one post from another under the same key: a hash of the request as sent.</summary>
    public static string Fingerprint(PostActivityRequest post) => Convert.ToHexString(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(post)));

    /// <summary>The answer recorded for <paramref name="handle"/>'s <paramref name="key"/>, expired or not; null if none.</summary>
    public Task<RecordedAnswer?> FindAsync(string handle, string key, CancellationToken cancellationToken) =>
        db.QueryRowAsync(db.Template("idempotency", "find"), new SqlParameters
        {
            ["user_handle"] = handle,
            ["key"] = key,
        }, row => new RecordedAnswer(
            row.GetInt32(row.GetOrdinal("generation")), row.GetString(row.GetOrdinal("fingerprint")), row.GetInt32(row.GetOrdinal("status")),
            row.IsDBNull(row.GetOrdinal("location")) ? null : row.GetString(row.GetOrdinal("location")), row.GetString(row.GetOrdinal("body")),
            row.GetBoolean(row.GetOrdinal("expired"))), cancellationToken);

    /// <summary>
    /// Records <paramref name="answer"/>; false when a concurrent request with the key recorded first. Not cancellable: the
    /// job is already committed, and its answer should be remembered even if the client left.
    /// </summary>
    public async Task<bool> RecordAsync(string handle, string key, RecordedAnswer answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        return await db.QueryCommitAsync<int?>(db.Template("idempotency", "record"), new SqlParameters
        {
            ["user_handle"] = handle,
            ["key"] = key,
            ["generation"] = answer.Generation,
            ["fingerprint"] = answer.Fingerprint,
            ["status"] = answer.Status,
            ["location"] = answer.Location,
            ["body"] = answer.Body,
        }, CancellationToken.None) is not null;
    }
}

/// <summary>A 202 as first sent for a key (<paramref name="Generation"/> counts the key's reuses after expiry).</summary>
public sealed record RecordedAnswer(int Generation, string Fingerprint, int Status, string? Location, string Body, bool Expired);

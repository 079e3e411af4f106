using System.Text.Json;
using Cruddur.Api.Users;
using Cruddur.Shared.Activities;
using Cruddur.Shared.Data;
using Cruddur.Shared.Resilience;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace Cruddur.Api.Activities;

/// <summary>A post to make: the request as sent, the signed-in user (null when authentication is off) and its <c>Idempotency-Key</c>.</summary>
public sealed record PostActivityCommand(PostActivityRequest Request, string? CognitoUserId, string? IdempotencyKey);

/// <summary>
/// Makes a post, in the shape of eShop's identified command: finds the author once, answers a repeated
/// <c>Idempotency-Key</c> with its first answer, validates, hands <see cref="ActivityBatcher"/> a post that names the
/// author's uuid, and records the answer for the key. Signed in, the author is the token's user: refused while their
/// sign-up is not stored yet (409), or if the body's <c>user_handle</c> names someone else (403). Without authentication
/// the body's handle names the author, and an unknown one is a 422: nothing is queued for it.
/// </summary>
public sealed class PostActivityHandler(
    UserDirectory users, IdempotencyKeys keys, ActivityBatcher batcher, TimeProvider clock, IOptions<JsonOptions> json,
    ILogger<PostActivityHandler> logger)
{
    /// <summary>How long a signed-in user whose sign-up is still queued is asked to wait (the ingest takes a second or two).</summary>
    public const int SignUpPendingRetryAfterSeconds = 2;

    /// <summary>How long a post refused because the batcher is full is asked to wait (a commit takes milliseconds).</summary>
    public const int BacklogRetryAfterSeconds = 1;

    public async Task<PostActivityOutcome> HandleAsync(PostActivityCommand command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        var post = command.Request;

        // The author, found once: the token's user, or the body's handle.
        UserSummary? author;
        List<string> errors;
        if (command.CognitoUserId is { } cognitoUserId)
        {
            author = await users.FindByCognitoUserIdAsync(cognitoUserId, cancellationToken);
            if (author is null)
            {
                // A sign-up that failed for good is not "on its way": a 409 would have the frontend retry forever.
                return await users.FailedSignUpHandleAsync(cognitoUserId, cancellationToken) is { } taken
                    ? new PostActivityOutcome.Refused(StatusCodes.Status403Forbidden, "Sign-up not stored",
                        $"You are signed in, but your sign-up could not be stored: the handle @{taken} belongs to another Cruddur user. " +
                        "Ask an operator to give you another handle; you can post once your sign-up is stored.")
                    : new PostActivityOutcome.Refused(StatusCodes.Status409Conflict, "Sign-up not stored yet",
                        "You are signed in, but your sign-up is still on its way to Cruddur; try again in a moment.", SignUpPendingRetryAfterSeconds);
            }
            if (!string.IsNullOrWhiteSpace(post.UserHandle) && !string.Equals(post.UserHandle, author.Handle, StringComparison.Ordinal))
            {
                return new PostActivityOutcome.Refused(StatusCodes.Status403Forbidden, "Not your handle",
                    $"You are signed in as @{author.Handle} and may post only as yourself; leave user_handle out or send yours.");
            }
            errors = ActivityValidation.Validate(post with { UserHandle = author.Handle });
        }
        else
        {
            errors = ActivityValidation.Validate(post);
            author = string.IsNullOrWhiteSpace(post.UserHandle) ? null : await users.FindByHandleAsync(post.UserHandle, cancellationToken);
            if (author is null && !string.IsNullOrWhiteSpace(post.UserHandle))
            {
                errors.Insert(0, "user_handle_unknown"); // the handle's error, first as user_handle_blank would be
            }
        }

        // A key belongs to the author: its first answer, within 24 hours, answers again.
        var key = author is null ? null : command.IdempotencyKey;
        string? fingerprint = null;
        RecordedAnswer? recorded = null;
        if (key is not null)
        {
            fingerprint = IdempotencyKeys.Fingerprint(post);
            recorded = await keys.FindAsync(author!.Handle, key, cancellationToken);
            if (recorded is { Expired: false })
            {
                return recorded.Fingerprint == fingerprint
                    ? new PostActivityOutcome.Replayed(recorded)
                    : new PostActivityOutcome.Refused(StatusCodes.Status422UnprocessableEntity, "Idempotency-Key reused",
                        "This Idempotency-Key was used with a different post in the last 24 hours; use a new key for a new post.");
            }
        }
        if (errors.Count > 0)
        {
            return new PostActivityOutcome.Invalid(new RejectedActivity(errors, new RejectedActivityData(post.UserHandle, post.Message)));
        }

        // Postgres keeps microseconds: the times in the answer are exactly the ones stored. Under a key the uuid is the
        // key's, so a retry of the key makes the same activity.
        var now = clock.GetUtcNow();
        now = now.AddTicks(-(now.Ticks % TimeSpan.TicksPerMicrosecond));
        var generation = recorded is null ? 0 : recorded.Generation + 1;
        var uuid = key is null ? Guid.CreateVersion7(now) : IdempotencyKeys.DeterministicUuid(author!.Handle, key, generation);
        var job = new CreateActivityJob(uuid, author!.Handle, post.Message!, now, now + ActivityValidation.Ttls[post.Ttl!]) { UserUuid = author.Uuid };
        // Group commit: the post joins the next batch job; this returns once that job is committed.
        if (!batcher.TryEnqueue(job, cancellationToken, out var committed))
        {
            return new PostActivityOutcome.Refused(StatusCodes.Status503ServiceUnavailable, "Too many posts waiting",
                "More posts are waiting for the database than the Api holds (ACTIVITY_BATCH_MAX_PENDING); nothing was queued. Retry in a moment.",
                BacklogRetryAfterSeconds);
        }
        var jobId = await committed;
        var accepted = new PostActivityOutcome.Accepted(
            new AcceptedActivity(job.Uuid, author.Handle, author.DisplayName, job.Message, job.CreatedAt, job.ExpiresAt, jobId));
        return key is null ? accepted : await RecordAsync(author.Handle, key, new RecordedAnswer(
            generation, fingerprint!, StatusCodes.Status202Accepted, accepted.Location,
            JsonSerializer.Serialize(accepted.Activity, json.Value.SerializerOptions), Expired: false), accepted);
    }

    // The job is committed, so the 202 is true whatever happens here.
    private async Task<PostActivityOutcome> RecordAsync(string handle, string key, RecordedAnswer answer, PostActivityOutcome.Accepted accepted)
    {
        try
        {
            // A concurrent request with the key recorded first (its job has the same uuid): its answer is the first.
            if (!await keys.RecordAsync(handle, key, answer) && await keys.FindAsync(handle, key, CancellationToken.None) is { } first)
            {
                return new PostActivityOutcome.Replayed(first);
            }
        }
        catch (Exception e) when (TransientErrors.IsTransient(e))
        {
            DatabaseDiskFull.Note(e); // the one write whose failure a 202 hides: /readyz still names the disk
            logger.LogWarning("Recording an Idempotency-Key answer failed ({Error}); a retry is still safe: same activity uuid", e.Message);
        }
        return accepted;
    }
}

/// <summary>What became of a post; the endpoint maps each to its HTTP answer.</summary>
public abstract record PostActivityOutcome
{
    private PostActivityOutcome()
    {
    }

    /// <summary>Queued: the job that stores it is committed (202).</summary>
    public sealed record Accepted(AcceptedActivity Activity) : PostActivityOutcome
    {
        public string Location => $"/api/activities/{Activity.Uuid}";
    }

    /// <summary>The answer first sent for this <c>Idempotency-Key</c>.</summary>
    public sealed record Replayed(RecordedAnswer Answer) : PostActivityOutcome;

    /// <summary>Not a valid post: every error found (422).</summary>
    public sealed record Invalid(RejectedActivity Rejection) : PostActivityOutcome;

    /// <summary>Refused: 403 another's handle, 409 a sign-up not stored yet, 503 too many posts waiting (both with Retry-After), 422 a key reused.</summary>
    public sealed record Refused(int Status, string Title, string Detail, int? RetryAfterSeconds = null) : PostActivityOutcome;
}

using System.Globalization;
using Cruddur.Api.Authentication;
using Cruddur.Api.Users;
using Cruddur.Shared.Activities;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.OpenApi;

namespace Cruddur.Api.Activities;

/// <summary>Posting activities (queued as jobs), reading one, and the home feed.</summary>
public static class ActivitiesApi
{
    public const int DefaultPageSize = 20;

    public const int MaxPageSize = 100;

    /// <summary>How long a signed-in user whose sign-up is still queued is asked to wait (the ingest takes a second or two).</summary>
    public const int SignUpPendingRetryAfterSeconds = 2;

    public static RouteGroupBuilder MapActivitiesApi(this IEndpointRouteBuilder routes)
    {
        var api = routes.MapGroup("/api/activities").WithTags("Activities");
        // No Accepts<T>() here: it would answer a wrong content type 415 before the handler's 400 (the contract);
        // the request body is described for the OpenAPI document only. A 503 (Postgres unreachable) may answer any of them.
        var post = api.MapPost("/", PostAsync)
            .AddEndpointFilter<IdempotencyFilter>()
            .AddOpenApiOperationTransformer(async (operation, context, cancellationToken) => operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Content = new Dictionary<string, OpenApiMediaType>
                {
                    ["application/json"] = new() { Schema = await context.GetOrCreateSchemaAsync(typeof(PostActivityRequest), null, cancellationToken) },
                },
            })
            .Produces<AcceptedActivity>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .Produces<RejectedActivity>(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        if (routes.ServiceProvider.GetRequiredService<CognitoAuthenticationOptions>().Enabled)
        {
            // Checked before the body is read and before the group commit: a 401 queues nothing. Reads stay open.
            post.RequireAuthorization()
                .ProducesProblem(StatusCodes.Status401Unauthorized)
                .ProducesProblem(StatusCodes.Status403Forbidden)
                .ProducesProblem(StatusCodes.Status409Conflict);
        }
        var home = api.MapGet("/home", HomeAsync);
        if (routes.ServiceProvider.GetRequiredService<FeedCacheOptions>().TimeToLive > TimeSpan.Zero)
        {
            home.CacheOutput(FeedCachePolicy.Name);
        }
        home.Produces<IReadOnlyList<FeedActivity>>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        api.MapGet("/{uuid:guid}", GetAsync)
            .Produces<StoredActivity>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return api;
    }

    /// <summary>
    /// Validates the post, chooses its uuid and times, and answers 202 once the create-activity job carrying
    /// it (with the posts that arrived alongside) is committed to Postgres: the activity is stored by a Worker
    /// moments later, exactly once. Signed in (a Cognito pool is configured), the author is the token's user:
    /// 409 while their sign-up is not stored yet, 403 if the body's <c>user_handle</c> names someone else.
    /// </summary>
    public static async Task<Results<Accepted<AcceptedActivity>, UnprocessableEntity<RejectedActivity>, ProblemHttpResult>> PostAsync(
        PostActivityBody body, HttpRequest request, UserDirectory users, ActivityBatcher batcher, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (body.Post is not { } post)
        {
            return body.Problem!;
        }

        List<string> errors;
        UserSummary? author;
        if (SignedInUser.CognitoUserId(request.HttpContext) is not null)
        {
            author = await SignedInUser.FindAsync(request.HttpContext, users, cancellationToken);
            if (author is null)
            {
                request.HttpContext.Response.Headers.RetryAfter = SignUpPendingRetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
                return TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Sign-up not stored yet",
                    detail: "You are signed in, but your sign-up is still on its way to Cruddur; try again in a moment.");
            }
            if (!string.IsNullOrWhiteSpace(post.UserHandle) && !string.Equals(post.UserHandle, author.Handle, StringComparison.Ordinal))
            {
                return TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Not your handle",
                    detail: $"You are signed in as @{author.Handle} and may post only as yourself; leave user_handle out or send yours.");
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
        if (errors.Count > 0)
        {
            return TypedResults.UnprocessableEntity(new RejectedActivity(errors, new RejectedActivityData(post.UserHandle, post.Message)));
        }

        // Postgres keeps microseconds: the times in the answer are exactly the ones stored.
        var now = clock.GetUtcNow();
        now = now.AddTicks(-(now.Ticks % TimeSpan.TicksPerMicrosecond));
        var job = new CreateActivityJob(
            body.Uuid ?? Guid.CreateVersion7(now), author!.Handle, post.Message!, now, now + ActivityValidation.Ttls[post.Ttl!]);
        // Group commit: the post joins the next batch job; this returns once that job is committed.
        var jobId = await batcher.EnqueueAsync(job, cancellationToken);
        return TypedResults.Accepted(
            $"/api/activities/{job.Uuid}",
            new AcceptedActivity(job.Uuid, author.Handle, author.DisplayName, job.Message, job.CreatedAt, job.ExpiresAt, jobId));
    }

    /// <summary>One activity in the shape of <c>object.sql</c>, or 404 while it is not (yet) stored.</summary>
    public static async Task<IResult> GetAsync(Guid uuid, ActivityReader store, CancellationToken cancellationToken)
    {
        var json = await store.ObjectJsonAsync(uuid, cancellationToken);
        return json is null
            ? TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such activity",
                detail: $"Activity {uuid} is not stored (yet: a post is stored moments after its 202).")
            : TypedResults.Text(json, "application/json");
    }

    /// <summary>
    /// A page of the feed: a bare JSON array (the frontend maps over it), newest first. The next page's
    /// address is in the <c>Link: &lt;...&gt;; rel="next"</c> header.
    /// </summary>
    public static async Task<IResult> HomeAsync(
        HttpContext http, ActivityReader store, [FromQuery] string? limit, [FromQuery] string? before, CancellationToken cancellationToken)
    {
        var size = DefaultPageSize;
        if (limit is not null && (!int.TryParse(limit, out size) || size is < 1 or > MaxPageSize))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad limit",
                detail: $"limit must be a whole number from 1 to {MaxPageSize}.");
        }
        FeedCursor? cursor = null;
        if (before is not null && !FeedCursor.TryParse(before, out cursor))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad cursor",
                detail: "before must be a cursor from a previous page's Link header.");
        }

        var (json, next) = await store.HomeJsonAsync(size, cursor, cancellationToken);
        if (next is not null)
        {
            http.Response.Headers.Link = $"</api/activities/home?limit={size}&before={next}>; rel=\"next\"";
        }
        return TypedResults.Text(json, "application/json");
    }
}

/// <summary>The 202 body: the activity as it will be stored, and the job that stores it.</summary>
public sealed record AcceptedActivity(
    Guid Uuid, string Handle, string DisplayName, string Message, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, string JobId);

/// <summary>The 422 body, as the seed's: every error code, and what was sent.</summary>
public sealed record RejectedActivity(IReadOnlyList<string> Errors, RejectedActivityData Data);

public sealed record RejectedActivityData(string? Handle, string? Message);

// The reads' JSON is built by Postgres (object.sql, home.sql); these two records only describe it in the OpenAPI document.

/// <summary>One activity, as <c>GET /api/activities/{uuid}</c> answers it (<c>object.sql</c>).</summary>
public sealed record StoredActivity(
    Guid Uuid, string DisplayName, string Handle, string Message, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt);

/// <summary>One activity of the home feed (<c>home.sql</c>).</summary>
public sealed record FeedActivity(
    Guid Uuid, string DisplayName, string Handle, string Message, int RepliesCount, int RepostsCount, int LikesCount,
    Guid? ReplyToActivityUuid, DateTimeOffset? ExpiresAt, DateTimeOffset CreatedAt);

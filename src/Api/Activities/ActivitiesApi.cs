using System.Globalization;
using System.Text;
using Cruddur.Api.Authentication;
using Cruddur.Api.CrossOrigin;
using Cruddur.Api.RateLimiting;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.OpenApi;

namespace Cruddur.Api.Activities;

/// <summary>Posting activities (queued as jobs), reading one, and the home feed.</summary>
public static class ActivitiesApi
{
    public const int DefaultPageSize = 20;

    public const int MaxPageSize = 100;

    public static RouteGroupBuilder MapActivitiesApi(this IEndpointRouteBuilder routes)
    {
        var api = routes.MapGroup("/api/activities").WithTags("Activities").RequireCors(FrontendCors.PolicyName);
        // No Accepts<T>() here: it would answer a wrong content type 415 before the handler's 400 (the contract);
        // the request body is described for the OpenAPI document only. A 503 (Postgres unreachable) may answer any of them.
        var post = api.MapPost("/", PostAsync)
            .RequireRateLimiting(PostRateLimit.PolicyName)
            .AddOpenApiOperationTransformer(async (operation, context, cancellationToken) =>
            {
                operation.RequestBody = new OpenApiRequestBody
                {
                    Required = true,
                    Content = new Dictionary<string, OpenApiMediaType>
                    {
                        ["application/json"] = new() { Schema = await context.GetOrCreateSchemaAsync(typeof(PostActivityRequest), null, cancellationToken) },
                    },
                };
                // A 422 is also an Idempotency-Key reused with another post: problem details, as the IETF's Idempotency-Key
                // draft has it. (One Produces per status: a second would replace the validation errors' body.)
                if (operation.Responses?.TryGetValue("422", out var rejected) == true && rejected.Content is { } content)
                {
                    content["application/problem+json"] = new() { Schema = await context.GetOrCreateSchemaAsync(typeof(ProblemDetails), null, cancellationToken) };
                }
            })
            .Produces<AcceptedActivity>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
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
        // No route constraint on the uuid: a path that matches no route is answered without the group's CORS headers,
        // and a browser would report a malformed uuid's 404 as a failed fetch.
        api.MapGet("/{uuid}", GetAsync)
            .Produces<StoredActivity>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return api;
    }

    /// <summary>
    /// Maps <c>POST /api/activities</c> to <see cref="PostActivityHandler"/> and its outcome to HTTP: 202 once the
    /// create-activity job carrying the post (with the posts that arrived alongside) is committed to Postgres, a replayed
    /// answer for a repeated <c>Idempotency-Key</c>, 400 for a bad key or body, 403, 409 and 422 as the handler decides.
    /// </summary>
    public static async Task<Results<Accepted<AcceptedActivity>, UnprocessableEntity<RejectedActivity>, ProblemHttpResult, ContentHttpResult>> PostAsync(
        PostActivityBody body, HttpContext http, PostActivityHandler handler, CancellationToken cancellationToken)
    {
        string? key = null;
        if (http.Request.Headers.TryGetValue(IdempotencyKeys.HeaderName, out var keys))
        {
            key = keys.Count == 1 ? keys[0] : null;
            if ((keys.Count == 1 ? IdempotencyKeys.Invalid(key) : $"Send one {IdempotencyKeys.HeaderName} header.") is { } why)
            {
                return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad Idempotency-Key", detail: why);
            }
        }
        if (body.Request is not { } request)
        {
            return body.Problem!;
        }

        var outcome = await handler.HandleAsync(new PostActivityCommand(request, SignedInUser.CognitoUserId(http), key), cancellationToken);
        switch (outcome)
        {
            case PostActivityOutcome.Accepted accepted:
                return TypedResults.Accepted(accepted.Location, accepted.Activity);
            case PostActivityOutcome.Replayed { Answer: var answer }:
                if (answer.Location is not null)
                {
                    http.Response.Headers.Location = answer.Location;
                }
                http.Response.Headers["Idempotent-Replayed"] = "true";
                return TypedResults.Text(answer.Body, "application/json", Encoding.UTF8, answer.Status);
            case PostActivityOutcome.Invalid invalid:
                return TypedResults.UnprocessableEntity(invalid.Rejection);
            case PostActivityOutcome.Refused refused:
                if (refused.RetryAfterSeconds is { } seconds)
                {
                    http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                }
                return TypedResults.Problem(statusCode: refused.Status, title: refused.Title, detail: refused.Detail);
            default:
                throw new InvalidOperationException($"Unknown outcome {outcome.GetType().Name}.");
        }
    }

    /// <summary>One activity in the shape of <c>object.sql</c>, or 404 while it is not (yet) stored, once it has expired, or for a malformed uuid.</summary>
    public static async Task<IResult> GetAsync(string uuid, ActivityReader store, CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(uuid, out var id))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such activity",
                detail: "An activity's id is a uuid, such as the one in a 202's Location.");
        }
        var json = await store.ObjectJsonAsync(id, cancellationToken);
        return json is null
            ? TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such activity",
                detail: $"Activity {id} is not stored (yet: a post is stored moments after its 202), or it has expired.")
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

/// <summary>
/// The 422 body: the seed's model, every error code and what was sent (its Flask answered the codes alone; the week-4
/// frontend only logs a refusal, so the whole model costs it nothing and tells an API client what was refused).
/// </summary>
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

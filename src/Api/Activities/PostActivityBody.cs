using Microsoft.AspNetCore.Http.HttpResults;

namespace Cruddur.Api.Activities;

/// <summary>
/// The body of <c>POST /api/activities</c>, read and parsed once, from Kestrel's own buffer, when the request is bound
/// (after authorization). Either <see cref="Request"/> or the <see cref="Problem"/> (400, 413) that answers the request is set.
/// </summary>
/// <param name="Request">The post, when the body is a JSON object of the right shape.</param>
/// <param name="Problem">Otherwise the answer: 400 (content type, malformed JSON, a field of the wrong type) or 413.</param>
public sealed record PostActivityBody(PostActivityRequest? Request, ProblemHttpResult? Problem)
{
    /// <summary>A post is a few hundred bytes; anything near this is not a post.</summary>
    public const int MaxBodyBytes = 16 * 1024;

    public static async ValueTask<PostActivityBody?> BindAsync(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        var (request, problem) = await RequestBody.ReadJsonAsync<PostActivityRequest>(http.Request, MaxBodyBytes, http.RequestAborted);
        return new PostActivityBody(request, problem);
    }
}

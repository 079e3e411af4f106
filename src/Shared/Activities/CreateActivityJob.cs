using Cruddur.Shared.Jobs;

namespace Cruddur.Shared.Activities;

/// <summary>
/// An accepted post, to be stored by the Worker's <c>create-activity</c> function. The Api chose the uuid
/// and the times, so a retried or duplicated job stores the same row once, and found the author once:
/// <see cref="UserUuid"/> is their <c>users.uuid</c>, <see cref="Handle"/> names them in the dashboard and in a
/// failure's reason.
/// </summary>
[JobContract(Function, Queue)]
public sealed record CreateActivityJob(Guid Uuid, string Handle, string Message, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt)
{
    public const string Function = "create-activity";

    public const string Queue = "activities";

    /// <summary>The author's <c>users.uuid</c>; null in a job queued by an Api older than this field, which the Worker resolves from <see cref="Handle"/>.</summary>
    public Guid? UserUuid { get; init; }
}

using Cruddur.Shared.Jobs;

namespace Cruddur.Shared.Activities;

/// <summary>
/// An accepted post, to be stored by the Worker's <c>create-activity</c> function. The Api chose the uuid
/// and the times, so a retried or duplicated job stores the same row once.
/// </summary>
[JobContract(Function, Queue)]
public sealed record CreateActivityJob(Guid Uuid, string Handle, string Message, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt)
{
    public const string Function = "create-activity";

    public const string Queue = "activities";
}

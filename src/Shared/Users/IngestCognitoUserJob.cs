using Cruddur.Shared.Jobs;

namespace Cruddur.Shared.Users;

/// <summary>A confirmed Cognito sign-up, to be upserted by the Worker's <c>ingest-cognito-user</c> function.</summary>
[JobContract(Function, Queue)]
public sealed record IngestCognitoUserJob(string CognitoUserId, string Email, string DisplayName, string Handle)
{
    public const string Function = "ingest-cognito-user";

    public const string Queue = "users";
}

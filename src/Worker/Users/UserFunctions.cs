using Cruddur.Shared.Users;
using Cruddur.Worker.Hosting;

namespace Cruddur.Worker.Users;

public sealed class UserFunctions(UserStore store)
{
    /// <summary>
    /// Upserts a confirmed Cognito sign-up on its cognito_user_id: a redelivered event makes one user, an
    /// updated email or name updates it. A handle taken by another user fails the job once, with the reason.
    /// </summary>
    [Function(IngestCognitoUserJob.Function)]
    public async Task IngestAsync([JobTrigger(IngestCognitoUserJob.Queue)] IngestCognitoUserJob user, FunctionContext context)
    {
        try
        {
            await store.UpsertAsync(user, context.CancellationToken);
        }
        catch (HandleTakenException e)
        {
            throw new PermanentFailureException(e.Message, e);
        }
    }
}

using Cruddur.Shared.Jobs;
using Cruddur.Shared.Users;
using Cruddur.Worker.Hosting;
using Microsoft.Extensions.Logging;

namespace Cruddur.Worker.Users;

public sealed class UserFunctions(UserStore store, IJobQueue jobs)
{
    /// <summary>
    /// Upserts the confirmed Cognito sign-ups of one SQS receive (a single sign-up arrives as a batch of one)
    /// on their cognito_user_id: a redelivered event makes one user, an updated email or name updates it.
    /// Like Lambda's batchItemFailures, a sign-up whose handle another user has is split out into a job of its
    /// own, which then fails once with the reason; the rest of the batch succeeds.
    /// </summary>
    [Function(IngestCognitoUserJob.Function)]
    public async Task IngestAsync([JobTrigger(IngestCognitoUserJob.Queue)] IReadOnlyList<IngestCognitoUserJob> users, FunctionContext context)
    {
        var taken = new List<IngestCognitoUserJob>();
        foreach (var user in users)
        {
            try
            {
                await store.UpsertAsync(user, context.CancellationToken);
            }
            catch (HandleTakenException e) when (users.Count == 1)
            {
                throw new PermanentFailureException(e.Message, e);
            }
            catch (HandleTakenException)
            {
                taken.Add(user);
            }
        }
        // Split out after the whole batch is stored, so a retry of a batch cut short does not split one out twice.
        foreach (var user in taken)
        {
            var jobId = await jobs.EnqueueAsync(user, context.CancellationToken);
            context.Logger.LogWarning("The handle '{Handle}' of cognito user {CognitoUserId} is taken; split out of the batch into job {JobId}", user.Handle, user.CognitoUserId, jobId);
        }
    }
}

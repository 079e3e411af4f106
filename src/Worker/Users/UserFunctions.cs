using Cruddur.Shared.Jobs;
using Cruddur.Shared.Users;
using Cruddur.Worker.Hosting;

namespace Cruddur.Worker.Users;

public sealed class UserFunctions(UserStore store, IJobQueue jobs)
{
    /// <summary>
    /// Upserts the confirmed Cognito sign-ups of one SQS receive (a single sign-up arrives as a batch of one)
    /// on their cognito_user_id: a redelivered event makes one user, an updated email or name updates it.
    /// A sign-up whose handle another user has is split out of the batch (<see cref="BatchItemFailures"/>).
    /// </summary>
    [Function(IngestCognitoUserJob.Function)]
    public async Task IngestAsync([JobTrigger(IngestCognitoUserJob.Queue)] IReadOnlyList<IngestCognitoUserJob> users, FunctionContext context)
    {
        var taken = new List<(IngestCognitoUserJob, Exception)>();
        foreach (var user in users)
        {
            try
            {
                await store.UpsertAsync(user, context.CancellationToken);
            }
            catch (HandleTakenException e)
            {
                taken.Add((user, e));
            }
        }
        // After the whole batch is stored, so a retry of a batch cut short does not split one out twice.
        await BatchItemFailures.SplitOutAsync(jobs, context, users, taken);
    }
}

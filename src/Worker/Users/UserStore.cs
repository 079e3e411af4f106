using Cruddur.Shared.Data;
using Cruddur.Shared.Resilience;
using Cruddur.Shared.Users;
using Npgsql;
using Polly;
using Polly.Registry;

namespace Cruddur.Worker.Users;

/// <summary>
/// Stores confirmed Cognito users with <c>db/sql/users/upsert.sql</c>, keyed on the cognito user id: the
/// same event twice makes one user, and an updated email, name or handle updates it. A sign-up whose handle another
/// user holds is recorded as failed (<c>sign_up_failed.sql</c>), for the Api to tell that user. Transient database
/// errors are retried by the <see cref="Retries.DatabaseWrite"/> pipeline.
/// </summary>
public sealed class UserStore(Db db, ResiliencePipelineProvider<string> pipelines)
{
    private readonly ResiliencePipeline _writes = pipelines.GetPipeline(Retries.DatabaseWrite);

    /// <summary>Inserts or updates the user; returns its uuid.</summary>
    /// <exception cref="HandleTakenException">Another cognito user has the handle: a permanent failure.</exception>
    public async Task<Guid> UpsertAsync(IngestCognitoUserJob job, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        var sql = db.Template("users", "upsert");
        var parameters = new SqlParameters
        {
            ["display_name"] = job.DisplayName,
            ["handle"] = job.Handle,
            ["email"] = job.Email,
            ["cognito_user_id"] = job.CognitoUserId,
        };
        Task<Guid> UpsertOnceAsync() => _writes.ExecuteAsync(
            async token => await db.QueryCommitAsync<Guid>(sql, parameters, token),
            cancellationToken).AsTask();
        try
        {
            return await UpsertOnceAsync();
        }
        catch (PostgresException e) when (IsHandleTaken(e))
        {
            // Two Workers inserting the same new user at once: the second waits on users_handle_key for the first's
            // commit and reports the handle taken before ON CONFLICT (cognito_user_id) sees the row. Run once more: the
            // row is there now, and the upsert updates it. A handle another user holds fails again, for good.
        }
        try
        {
            return await UpsertOnceAsync();
        }
        catch (PostgresException e) when (IsHandleTaken(e))
        {
            // Kept, so that the Api tells this user why they cannot post rather than to wait for their sign-up.
            var failed = db.Template("users", "sign_up_failed");
            var failure = new SqlParameters { ["cognito_user_id"] = job.CognitoUserId, ["handle"] = job.Handle };
            await _writes.ExecuteAsync(async token => await db.QueryCommitAsync<string>(failed, failure, token), cancellationToken);
            throw new HandleTakenException(job.Handle, job.CognitoUserId, e);
        }
    }

    private static bool IsHandleTaken(PostgresException e) =>
        e.SqlState == PostgresErrorCodes.UniqueViolation && e.ConstraintName == HandleTakenException.Constraint;
}

/// <summary>
/// A sign-up whose handle belongs to another cognito user. Retrying cannot fix it: the job fails once with
/// this reason. The message names the handle and the cognito user id, never the email.
/// </summary>
public sealed class HandleTakenException : Exception
{
    /// <summary>The unique constraint on <c>users.handle</c>.</summary>
    public const string Constraint = "users_handle_key";

    public HandleTakenException(string handle, string cognitoUserId, Exception? innerException = null)
        : base($"The handle '{handle}' is already taken by another user; cognito user {cognitoUserId} was not stored.", innerException)
    {
        Handle = handle;
        CognitoUserId = cognitoUserId;
    }

    public string Handle { get; }

    public string CognitoUserId { get; }
}

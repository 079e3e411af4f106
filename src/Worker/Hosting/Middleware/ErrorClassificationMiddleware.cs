using Cruddur.Shared.Resilience;
using Npgsql;

namespace Cruddur.Worker.Hosting.Middleware;

/// <summary>
/// Decides whether a failure is worth a retry. Errors the data itself causes (a broken constraint, a value
/// Postgres rejects) become <see cref="PermanentFailureException"/>: the job fails once with that reason. Everything else,
/// a missing grant, table, column or function included, is left for Hangfire's retries with backoff.
/// </summary>
internal sealed class ErrorClassificationMiddleware : IFunctionMiddleware
{
    public async Task InvokeAsync(FunctionContext context, FunctionExecutionDelegate next)
    {
        try
        {
            await next(context);
        }
        catch (PostgresException e) when (!TransientErrors.IsTransient(e) && IsCausedByData(e.SqlState))
        {
            throw new PermanentFailureException(
                $"{context.FunctionName} was refused by the database: {e.SqlState} {e.MessageText}{(e.ConstraintName is null ? "" : $" ({e.ConstraintName})")}", e);
        }
    }

    // 22: data exception, 23: integrity constraint violation, 42: syntax error or access rule violation, but for the 42s
    // a deploy causes and an operator mends (a grant not yet made, a Worker older or newer than the schema): those go to
    // Hangfire's retries, as failing a job of posts answered 202 for good would lose them until someone requeued it.
    private static bool IsCausedByData(string sqlState) =>
        sqlState[..2] is "22" or "23" or "42" && sqlState is not (PostgresErrorCodes.InsufficientPrivilege or PostgresErrorCodes.UndefinedTable
            or PostgresErrorCodes.UndefinedColumn or PostgresErrorCodes.UndefinedFunction);
}

using Cruddur.Shared.Resilience;
using Npgsql;

namespace Cruddur.Worker.Hosting.Middleware;

/// <summary>
/// Decides whether a failure is worth a retry. Errors the data itself causes (a broken constraint, a value
/// Postgres rejects, a query that does not fit the schema) become <see cref="PermanentFailureException"/>:
/// the job fails once with that reason. Everything else is left for Hangfire's retries with backoff.
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

    // 22: data exception, 23: integrity constraint violation, 42: syntax error or access rule violation.
    private static bool IsCausedByData(string sqlState) => sqlState[..2] is "22" or "23" or "42";
}

using Cruddur.Shared.Data;
using Cruddur.Shared.Resilience;
using Microsoft.AspNetCore.Diagnostics;

namespace Cruddur.Api;

/// <summary>
/// A request that fails because Postgres is down or restarting answers 503 with Retry-After, so clients and
/// load balancers back off and retry, instead of a 500. No 202 was sent; but a commit whose connection broke after the
/// statement went out may have been stored, and only an Idempotency-Key makes the retry of such a post safe.
/// </summary>
internal sealed class DatabaseUnavailableHandler(IProblemDetailsService problems, ILogger<DatabaseUnavailableHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        // An IOException reaching here is the request's own I/O (a client gone, a body too large), never the database's:
        // Npgsql wraps its I/O errors in NpgsqlException.
        if (exception is IOException || !TransientErrors.IsTransient(exception))
        {
            return false;
        }
        DatabaseDiskFull.Note(exception);
        logger.LogWarning("Database unavailable for {Method} {Path}: {Error}", httpContext.Request.Method, httpContext.Request.Path, TransientErrors.Describe(exception));
        httpContext.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        httpContext.Response.Headers.RetryAfter = "5";
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            ProblemDetails =
            {
                Status = 503, Title = "Database unavailable",
                Detail = HttpMethods.IsPost(httpContext.Request.Method)
                    ? "The database is unavailable. Retry in a few seconds; if the connection broke while committing, this may already be stored, and retrying with the same Idempotency-Key stores it once."
                    : "The database is unavailable. Retry in a few seconds.",
            },
        });
    }
}

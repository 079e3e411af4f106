using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Cruddur.Worker.Hosting.Middleware;

/// <summary>
/// Puts every log line of the invocation in a scope (function, invocation id, job id, attempt) and logs its
/// outcome with its duration: one line per invocation.
/// </summary>
internal sealed class InvocationLoggingMiddleware(ILogger<InvocationLoggingMiddleware> logger) : IFunctionMiddleware
{
    public async Task InvokeAsync(FunctionContext context, FunctionExecutionDelegate next)
    {
        using var scope = logger.BeginScope(new Dictionary<string, object?>
        {
            ["Function"] = context.FunctionName,
            ["InvocationId"] = context.InvocationId,
            ["JobId"] = context.JobId,
            ["Attempt"] = context.Attempt,
        });
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(context);
            logger.LogInformation("{Function} succeeded in {Elapsed:0.0} ms (job {JobId}, attempt {Attempt})",
                context.FunctionName, Stopwatch.GetElapsedTime(started).TotalMilliseconds, context.JobId, context.Attempt);
        }
        catch (PermanentFailureException e)
        {
            logger.LogError("{Function} failed permanently in {Elapsed:0.0} ms (job {JobId}): {Reason}",
                context.FunctionName, Stopwatch.GetElapsedTime(started).TotalMilliseconds, context.JobId, e.Message);
            throw;
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "{Function} failed in {Elapsed:0.0} ms (job {JobId}, attempt {Attempt}); Hangfire will retry it",
                context.FunctionName, Stopwatch.GetElapsedTime(started).TotalMilliseconds, context.JobId, context.Attempt);
            throw;
        }
    }
}

using System.Diagnostics;
using Cruddur.Shared.Observability;

namespace Cruddur.Worker.Hosting.Middleware;

/// <summary>
/// A span per invocation, continuing the trace of the request that enqueued the job, and the invocation
/// metrics (count by outcome, duration) per function.
/// </summary>
internal sealed class TelemetryMiddleware : IFunctionMiddleware
{
    public async Task InvokeAsync(FunctionContext context, FunctionExecutionDelegate next)
    {
        ActivityContext.TryParse(context.TraceParent, null, isRemote: true, out var parent);
        using var activity = CruddurTelemetry.Source.StartActivity(context.FunctionName, ActivityKind.Consumer, parent);
        activity?.SetTag("cruddur.function", context.FunctionName);
        activity?.SetTag("cruddur.job_id", context.JobId);
        activity?.SetTag("cruddur.attempt", context.Attempt);
        var started = Stopwatch.GetTimestamp();
        var outcome = "succeeded";
        try
        {
            await next(context);
        }
        catch (Exception e)
        {
            outcome = e is PermanentFailureException ? "failed" : "retried";
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            throw;
        }
        finally
        {
            var function = new KeyValuePair<string, object?>("function", context.FunctionName);
            CruddurTelemetry.Invocations.Add(1, function, new KeyValuePair<string, object?>("outcome", outcome));
            CruddurTelemetry.InvocationDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, function);
        }
    }
}

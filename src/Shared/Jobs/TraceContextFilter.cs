using System.Diagnostics;
using Cruddur.Shared.Observability;
using Hangfire.Client;

namespace Cruddur.Shared.Jobs;

/// <summary>
/// Stores the current trace context (W3C traceparent) as a job parameter when a job is created, so the
/// Worker's invocation continues the trace of the request that enqueued it.
/// </summary>
internal sealed class TraceContextFilter : IClientFilter
{
    public void OnCreating(CreatingContext context)
    {
        if (Activity.Current is { IdFormat: ActivityIdFormat.W3C } activity)
        {
            context.SetJobParameter(CruddurTelemetry.TraceParentParameter, activity.Id);
        }
    }

    public void OnCreated(CreatedContext context)
    {
    }
}

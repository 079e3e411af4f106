using Microsoft.Extensions.Logging;

namespace Cruddur.Worker.Hosting;

/// <summary>One invocation of a function: who it is, which attempt, its services, its logger.</summary>
public sealed class FunctionContext
{
    internal FunctionContext(FunctionDescriptor function, string? jobId, int attempt, string payload,
        IServiceProvider services, ILogger logger, CancellationToken cancellationToken)
    {
        Function = function;
        JobId = jobId;
        Attempt = attempt;
        Payload = payload;
        InstanceServices = services;
        Logger = logger;
        CancellationToken = cancellationToken;
    }

    /// <summary>Unique to this invocation (a retry is a new invocation of the same job).</summary>
    public string InvocationId { get; } = Guid.CreateVersion7().ToString("N");

    public string FunctionName => Function.Name;

    /// <summary>The Hangfire job being run, or null outside Hangfire.</summary>
    public string? JobId { get; }

    /// <summary>1 for the first run of a job, 2 for its first retry, and so on.</summary>
    public int Attempt { get; }

    /// <summary>Cancelled when the Worker shuts down and the grace period is over.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>The invocation's DI scope: services resolved here live as long as the invocation.</summary>
    public IServiceProvider InstanceServices { get; }

    /// <summary>A logger for the function, inside the invocation's log scope.</summary>
    public ILogger Logger { get; }

    internal FunctionDescriptor Function { get; }

    /// <summary>The raw JSON payload as stored in the job.</summary>
    internal string Payload { get; }

    /// <summary>The W3C trace context of the request that enqueued the job, if any.</summary>
    internal string? TraceParent { get; init; }
}

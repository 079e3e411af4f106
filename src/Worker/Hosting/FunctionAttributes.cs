namespace Cruddur.Worker.Hosting;

/// <summary>
/// Declares a public method as a function the Worker runs. The method takes exactly one trigger parameter
/// (<see cref="JobTriggerAttribute"/> or <see cref="TimerTriggerAttribute"/>) and, optionally, a
/// <see cref="FunctionContext"/> and a <see cref="CancellationToken"/>; it returns a <see cref="Task"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class FunctionAttribute(string name) : Attribute
{
    /// <summary>The function's name: unique in the Worker, shown in the dashboard and the logs.</summary>
    public string Name { get; } = name;
}

/// <summary>Marks the parameter that receives what triggered the function.</summary>
[AttributeUsage(AttributeTargets.Parameter, Inherited = false)]
public abstract class TriggerAttribute : Attribute;

/// <summary>
/// Runs the function for each job stored on <see cref="Queue"/> for it. The parameter is the job contract
/// (a record marked <c>[JobContract]</c> in Cruddur.Shared), or a list of them to take a batch in one call.
/// </summary>
public sealed class JobTriggerAttribute(string queue) : TriggerAttribute
{
    public string Queue { get; } = queue;
}

/// <summary>
/// Runs the function on a cron schedule (5 fields, or 6 with seconds), as a Hangfire recurring job: one run
/// per tick however many Workers there are. <c>%NAME%</c> takes the schedule from configuration, as in Azure
/// Functions. The parameter is a <see cref="TimerInfo"/>.
/// </summary>
public sealed class TimerTriggerAttribute(string schedule) : TriggerAttribute
{
    public string Schedule { get; } = schedule;

    /// <summary>Also run once when a Worker starts.</summary>
    public bool RunOnStartup { get; init; }

    /// <summary>The queue the timer's runs are stored on.</summary>
    public string Queue { get; init; } = "maintenance";
}

/// <summary>What a timer function receives.</summary>
/// <param name="Schedule">The cron expression, after <c>%NAME%</c> substitution.</param>
/// <param name="Next">When the schedule fires next.</param>
public sealed record TimerInfo(string Schedule, DateTimeOffset? Next);

using System.Reflection;
using Cronos;

namespace Cruddur.Worker.Hosting;

/// <summary>One discovered function: its method, its trigger, and how each parameter is bound.</summary>
internal sealed class FunctionDescriptor
{
    internal FunctionDescriptor(string name, MethodInfo method, TriggerAttribute trigger, Type triggerType, IReadOnlyList<ParameterSource> parameters)
    {
        Name = name;
        Method = method;
        Trigger = trigger;
        TriggerType = triggerType;
        Parameters = parameters;
    }

    public string Name { get; }

    public MethodInfo Method { get; }

    public TriggerAttribute Trigger { get; }

    /// <summary>The trigger parameter's type: a contract, <c>IReadOnlyList&lt;contract&gt;</c>, or <see cref="TimerInfo"/>.</summary>
    public Type TriggerType { get; }

    /// <summary>The queue its jobs are stored on.</summary>
    public string Queue => Trigger switch
    {
        JobTriggerAttribute job => job.Queue,
        TimerTriggerAttribute timer => timer.Queue,
        _ => throw new InvalidOperationException($"Unknown trigger {Trigger.GetType().Name}."),
    };

    /// <summary>For a timer: the schedule after <c>%NAME%</c> substitution; null when that setting is empty (the timer is off).</summary>
    public string? Schedule { get; internal init; }

    internal CronExpression? Cron { get; init; }

    internal IReadOnlyList<ParameterSource> Parameters { get; }

    /// <summary>Where the method is declared, as error messages name it.</summary>
    public string Where => $"{Method.DeclaringType!.FullName}.{Method.Name}";
}

/// <summary>What a function parameter receives.</summary>
internal enum ParameterSource
{
    Trigger,
    Context,
    CancellationToken,
}

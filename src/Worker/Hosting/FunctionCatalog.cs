using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Text.RegularExpressions;
using Cronos;
using Cruddur.Shared.Jobs;
using Microsoft.Extensions.Configuration;

namespace Cruddur.Worker.Hosting;

/// <summary>
/// The functions of this Worker, found once at startup from their attributes. Every declaration error is
/// collected and reported together, each naming its class and method, and the Worker does not start.
/// </summary>
internal sealed partial class FunctionCatalog
{
    private readonly Dictionary<string, FunctionDescriptor> _functions;

    private FunctionCatalog(Dictionary<string, FunctionDescriptor> functions) => _functions = functions;

    public IReadOnlyCollection<FunctionDescriptor> Functions => _functions.Values;

    /// <summary>Every queue a function listens on: the Hangfire server fetches from these.</summary>
    public string[] Queues => [.. _functions.Values.Select(f => f.Queue).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    public bool TryGet(string name, [NotNullWhen(true)] out FunctionDescriptor? function) => _functions.TryGetValue(name, out function);

    /// <summary>The types of <paramref name="assembly"/> that declare at least one <c>[Function]</c>.</summary>
    public static IEnumerable<Type> TypesIn(Assembly assembly) =>
        assembly.GetTypes().Where(t => t.GetMethods(DeclaredMethods).Any(m => m.IsDefined(typeof(FunctionAttribute))));

    /// <summary>Discovers the functions declared on <paramref name="types"/>.</summary>
    /// <exception cref="FunctionDeclarationException">One or more declarations are malformed.</exception>
    public static FunctionCatalog Discover(IEnumerable<Type> types, IConfiguration configuration)
    {
        var functions = new Dictionary<string, FunctionDescriptor>(StringComparer.Ordinal);
        var errors = new List<string>();
        foreach (var method in types.SelectMany(t => t.GetMethods(DeclaredMethods)))
        {
            if (method.GetCustomAttribute<FunctionAttribute>() is not { } attribute)
            {
                continue;
            }
            var where = $"{method.DeclaringType!.FullName}.{method.Name}";
            var function = Describe(method, attribute, where, configuration, errors);
            if (function is null)
            {
                continue;
            }
            if (functions.TryGetValue(function.Name, out var existing))
            {
                errors.Add($"{where}: the function name '{function.Name}' is already used by {existing.Where}.");
                continue;
            }
            functions.Add(function.Name, function);
        }
        return errors.Count > 0 ? throw new FunctionDeclarationException(errors) : new FunctionCatalog(functions);
    }

    private const BindingFlags DeclaredMethods =
        BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    private static FunctionDescriptor? Describe(MethodInfo method, FunctionAttribute attribute, string where, IConfiguration configuration, List<string> errors)
    {
        var before = errors.Count;
        if (!ValidName().IsMatch(attribute.Name))
        {
            errors.Add($"{where}: the function name '{attribute.Name}' must be lower-case letters, digits and dashes (like 'create-activity').");
        }
        if (!method.IsPublic || !method.DeclaringType!.IsVisible || (method.DeclaringType.IsAbstract && !method.IsStatic))
        {
            errors.Add($"{where}: a function must be a public method of a public, non-abstract class.");
        }
        if (method.ReturnType != typeof(Task))
        {
            errors.Add($"{where}: a function must return Task, not {method.ReturnType.Name}.");
        }

        var parameters = method.GetParameters();
        var triggers = parameters.Where(p => p.IsDefined(typeof(TriggerAttribute), inherit: false)).ToList();
        if (triggers.Count != 1)
        {
            errors.Add(triggers.Count == 0
                ? $"{where}: no trigger; mark one parameter [JobTrigger(\"queue\")] or [TimerTrigger(\"cron\")]."
                : $"{where}: {triggers.Count} triggers ({string.Join(", ", triggers.Select(t => t.Name))}); a function has exactly one.");
            return null;
        }

        if (triggers[0].GetCustomAttributes<TriggerAttribute>(inherit: false).Count() > 1)
        {
            errors.Add($"{where}: parameter '{triggers[0].Name}' has more than one trigger attribute; a function has exactly one.");
            return null;
        }

        var sources = new List<ParameterSource>();
        foreach (var parameter in parameters)
        {
            if (parameter == triggers[0])
            {
                sources.Add(ParameterSource.Trigger);
            }
            else if (parameter.ParameterType == typeof(FunctionContext))
            {
                sources.Add(ParameterSource.Context);
            }
            else if (parameter.ParameterType == typeof(CancellationToken))
            {
                sources.Add(ParameterSource.CancellationToken);
            }
            else
            {
                errors.Add($"{where}: parameter '{parameter.Name}' ({parameter.ParameterType.Name}) cannot be bound; besides the trigger a function takes only FunctionContext and CancellationToken (inject services through the constructor).");
            }
        }

        var trigger = triggers[0].GetCustomAttribute<TriggerAttribute>()!;
        var triggerType = triggers[0].ParameterType;
        string? schedule = null;
        CronExpression? cron = null;
        switch (trigger)
        {
            case JobTriggerAttribute job:
                CheckContract(attribute.Name, job.Queue, triggerType, where, errors);
                break;
            case TimerTriggerAttribute timer:
                if (triggerType != typeof(TimerInfo))
                {
                    errors.Add($"{where}: a [TimerTrigger] parameter must be a TimerInfo, not {triggerType.Name}.");
                }
                (schedule, cron) = ParseSchedule(timer.Schedule, where, configuration, errors);
                break;
            default:
                errors.Add($"{where}: unknown trigger {trigger.GetType().Name}.");
                break;
        }

        return errors.Count > before
            ? null
            : new FunctionDescriptor(attribute.Name, method, trigger, triggerType, sources) { Schedule = schedule, Cron = cron };
    }

    private static void CheckContract(string function, string queue, Type triggerType, string where, List<string> errors)
    {
        var contractType = BatchItemType(triggerType) ?? triggerType;
        var contract = contractType.GetCustomAttribute<JobContractAttribute>();
        if (contract is null)
        {
            errors.Add($"{where}: the payload type {contractType.Name} is not a job contract; mark it [JobContract(\"{function}\", \"{queue}\")] in Cruddur.Shared (a batch is IReadOnlyList<contract>).");
        }
        else if (contract.Function != function || contract.Queue != queue)
        {
            errors.Add($"{where}: {contractType.Name} is the contract of function '{contract.Function}' on queue '{contract.Queue}', but this function is '{function}' on queue '{queue}'.");
        }
    }

    /// <summary>T for <c>IReadOnlyList&lt;T&gt;</c> (a batch), otherwise null.</summary>
    internal static Type? BatchItemType(Type type) =>
        type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IReadOnlyList<>) ? type.GetGenericArguments()[0] : null;

    private static (string?, CronExpression?) ParseSchedule(string declared, string where, IConfiguration configuration, List<string> errors)
    {
        var schedule = declared;
        var setting = Setting().Match(declared);
        if (setting.Success)
        {
            schedule = configuration[setting.Groups[1].Value];
            if (schedule is null)
            {
                errors.Add($"{where}: the schedule {declared} names the setting {setting.Groups[1].Value}, which is not set.");
                return (null, null);
            }
            if (string.IsNullOrWhiteSpace(schedule))
            {
                return (null, null); // set to empty: the timer is off
            }
        }
        try
        {
            var format = schedule.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard;
            return (schedule, CronExpression.Parse(schedule, format));
        }
        catch (CronFormatException e)
        {
            var named = setting.Success ? $" (the setting {setting.Groups[1].Value})" : "";
            errors.Add($"{where}: the schedule '{schedule}'{named} is not a valid cron expression: {e.Message}");
            return (null, null);
        }
    }

    [GeneratedRegex("^[a-z0-9]+(-[a-z0-9]+)*$")]
    private static partial Regex ValidName();

    [GeneratedRegex("^%([A-Za-z0-9_:]+)%$")]
    private static partial Regex Setting();
}

/// <summary>The Worker's functions are declared wrongly; the message lists each error with its method.</summary>
internal sealed class FunctionDeclarationException : Exception
{
    public FunctionDeclarationException(IReadOnlyList<string> errors)
        : base("The Worker's functions are declared wrongly:\n  " + string.Join("\n  ", errors)) => Errors = errors;

    public IReadOnlyList<string> Errors { get; }
}

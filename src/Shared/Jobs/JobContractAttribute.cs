using System.Reflection;

namespace Cruddur.Shared.Jobs;

/// <summary>
/// Marks a record as a job contract: the payload of the function named <see cref="Function"/>, stored on
/// <see cref="Queue"/>. The Api enqueues the contract; the Worker's function of that name receives it.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class JobContractAttribute(string function, string queue) : Attribute
{
    /// <summary>The name of the function that runs this contract (as in <c>[Function("create-activity")]</c>).</summary>
    public string Function { get; } = function;

    /// <summary>The Hangfire queue the job is stored on.</summary>
    public string Queue { get; } = queue;

    /// <summary>The contract declared on <paramref name="type"/>.</summary>
    /// <exception cref="InvalidOperationException">The type carries no <see cref="JobContractAttribute"/>.</exception>
    public static JobContractAttribute Of(Type type) =>
        type.GetCustomAttribute<JobContractAttribute>()
        ?? throw new InvalidOperationException($"{type.FullName} is not a job contract: mark it [JobContract(\"function-name\", \"queue\")].");
}

using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Cruddur.Worker.Hosting;

/// <summary>
/// At startup, before any job is fetched: builds the middleware chain (each middleware from the root container), checks
/// that each function's class has a public constructor whose parameters the container provides, and creates each class
/// once in a scope of its own, so that a service its services need is found missing too. Otherwise the first invocation
/// would find out, and every job of that function would fail through its retries.
/// </summary>
internal sealed class FunctionActivationCheck(FunctionCatalog catalog, IServiceProvider services) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = services.GetRequiredService<FunctionPipeline>(); // an unresolvable middleware throws here, naming it and the service
        var isService = services.GetRequiredService<IServiceProviderIsService>();
        bool Provided(ParameterInfo p) => p.HasDefaultValue || (p.GetCustomAttribute<FromKeyedServicesAttribute>() is { } keyed
            ? isService is IServiceProviderIsKeyedService isKeyed && isKeyed.IsKeyedService(p.ParameterType, keyed.Key)
            : isService.IsService(p.ParameterType));
        var errors = new List<string>();
        foreach (var type in catalog.Functions.Where(f => !f.Method.IsStatic).Select(f => f.Method.DeclaringType!).Distinct())
        {
            if (isService.IsService(type))
            {
                continue;
            }
            var constructors = type.GetConstructors();
            if (!constructors.Any(c => c.GetParameters().All(Provided)))
            {
                var missing = constructors.SelectMany(c => c.GetParameters()).Where(p => !Provided(p))
                    .Select(p => $"{p.ParameterType.Name} {p.Name}").Distinct();
                errors.Add($"{type.FullName}: no public constructor whose parameters are all registered services (not registered: {string.Join(", ", missing)}).");
                continue;
            }
            if (CannotCreate(type) is { } why)
            {
                errors.Add($"{type.FullName}: cannot be created: {why}");
            }
        }
        return errors.Count == 0 ? Task.CompletedTask : throw new FunctionDeclarationException(errors);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    // As an invocation creates it (FunctionPipeline), and disposed as one is.
    private string? CannotCreate(Type type)
    {
        using var scope = services.CreateScope();
        object? instance = null;
        try
        {
            instance = ActivatorUtilities.CreateInstance(scope.ServiceProvider, type);
            return null;
        }
        catch (Exception e) when (e is InvalidOperationException or TargetInvocationException)
        {
            return (e.InnerException ?? e).Message;
        }
        finally
        {
            (instance as IDisposable)?.Dispose();
        }
    }
}

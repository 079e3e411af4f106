using System.Reflection;
using System.Text.Json;
using Cruddur.Shared.Jobs;
using Microsoft.Extensions.DependencyInjection;

namespace Cruddur.Worker.Hosting;

/// <summary>
/// The middleware chain, composed once, ending in the call of the function itself. Each middleware is created once, from
/// the root container, as Azure Functions' worker does: it takes singletons in its constructor and an invocation's scoped
/// services from <see cref="FunctionContext.InstanceServices"/>.
/// </summary>
internal sealed class FunctionPipeline
{
    private readonly FunctionExecutionDelegate _run;

    public FunctionPipeline(IReadOnlyList<Type> middleware, IServiceProvider services)
    {
        FunctionExecutionDelegate next = InvokeFunctionAsync;
        foreach (var type in middleware.Reverse())
        {
            var instance = (IFunctionMiddleware)ActivatorUtilities.GetServiceOrCreateInstance(services, type);
            var inner = next;
            next = context => instance.InvokeAsync(context, inner);
        }
        _run = next;
    }

    public Task RunAsync(FunctionContext context) => _run(context);

    private static async Task InvokeFunctionAsync(FunctionContext context)
    {
        var function = context.Function;
        var arguments = function.Parameters.Select(source => source switch
        {
            ParameterSource.Trigger => BindTrigger(context),
            ParameterSource.Context => context,
            _ => (object)context.CancellationToken,
        }).ToArray();
        // A function's class registered as a service is the container's to dispose; one the host creates, the host disposes.
        var type = function.Method.DeclaringType!;
        var instance = function.Method.IsStatic ? null : context.InstanceServices.GetService(type);
        var created = instance is null && !function.Method.IsStatic;
        if (created)
        {
            instance = ActivatorUtilities.CreateInstance(context.InstanceServices, type);
        }
        try
        {
            await (Task)function.Method.Invoke(instance, BindingFlags.DoNotWrapExceptions, null, arguments, null)!;
        }
        finally
        {
            if (created && instance is IAsyncDisposable asyncDisposable)
            {
                await asyncDisposable.DisposeAsync();
            }
            else if (created && instance is IDisposable disposable)
            {
                disposable.Dispose();
            }
        }
    }

    private static object BindTrigger(FunctionContext context)
    {
        var function = context.Function;
        if (function.Trigger is TimerTriggerAttribute)
        {
            // A timer that is off has no schedule; a job of it still queued from before runs once.
            return new TimerInfo(function.Schedule ?? "", function.Cron?.GetNextOccurrence(DateTimeOffset.UtcNow, TimeZoneInfo.Utc));
        }

        var itemType = FunctionCatalog.BatchItemType(function.TriggerType);
        try
        {
            // The payload is parsed once, as what its first token says it is: an object, or an array for a batch.
            var isBatch = context.Payload.AsSpan().TrimStart(" \t\r\n").StartsWith("[", StringComparison.Ordinal);
            object? value = (itemType, isBatch) switch
            {
                // A batch function also takes a single item, as a batch of one.
                (not null, false) => JsonSerializer.Deserialize(context.Payload, itemType, JobPayload.Options) is { } item ? ToList(itemType, item) : null,
                (null, true) => throw new PermanentFailureException(
                    $"{function.Name} takes one {function.TriggerType.Name}, but job {context.JobId} carries a batch."),
                _ => JsonSerializer.Deserialize(context.Payload, function.TriggerType, JobPayload.Options),
            };
            return value ?? throw new PermanentFailureException($"The payload of job {context.JobId} for {function.Name} is null.");
        }
        catch (JsonException e)
        {
            // The message names the path and position, never the payload's values.
            throw new PermanentFailureException(
                $"The payload of job {context.JobId} is not a valid {(itemType ?? function.TriggerType).Name} for {function.Name}: {e.Message}", e);
        }
    }

    private static object ToList(Type itemType, object item)
    {
        var list = (System.Collections.IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(itemType))!;
        list.Add(item);
        return list;
    }
}

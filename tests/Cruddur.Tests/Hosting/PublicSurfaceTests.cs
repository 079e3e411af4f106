using Cruddur.Worker.Hosting;

namespace Cruddur.Tests.Hosting;

public class PublicSurfaceTests
{
    /// <summary>
    /// A function author's types are public; the machinery (catalog, descriptors, dispatcher, pipeline, options,
    /// filters, timers, startup) is internal, so a newcomer can tell what they may use from what they may not.
    /// Making a machinery type public again fails here: add it to this list only if a function author needs it.
    /// </summary>
    [Fact]
    public void The_function_hosts_public_types_are_only_what_a_function_author_uses()
    {
        var exported = typeof(FunctionContext).Assembly.GetExportedTypes()
            .Where(t => t.Namespace?.StartsWith("Cruddur.Worker.Hosting", StringComparison.Ordinal) == true)
            .Select(t => t.FullName)
            .Order(StringComparer.Ordinal);

        Assert.Equal(
            [
                "Cruddur.Worker.Hosting.BatchItemFailures",
                "Cruddur.Worker.Hosting.FunctionAttribute",
                "Cruddur.Worker.Hosting.FunctionContext",
                "Cruddur.Worker.Hosting.FunctionExecutionDelegate",
                "Cruddur.Worker.Hosting.FunctionHostBuilder",
                "Cruddur.Worker.Hosting.FunctionHostExtensions",
                "Cruddur.Worker.Hosting.IFunctionMiddleware",
                "Cruddur.Worker.Hosting.JobTriggerAttribute",
                "Cruddur.Worker.Hosting.PermanentFailureException",
                "Cruddur.Worker.Hosting.TimerInfo",
                "Cruddur.Worker.Hosting.TimerTriggerAttribute",
                "Cruddur.Worker.Hosting.TriggerAttribute",
            ],
            exported);
    }
}

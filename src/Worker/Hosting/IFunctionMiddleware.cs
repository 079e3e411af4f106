namespace Cruddur.Worker.Hosting;

/// <summary>The rest of the pipeline: the next middleware, and at the end the function itself.</summary>
public delegate Task FunctionExecutionDelegate(FunctionContext context);

/// <summary>
/// Runs around every invocation, as Azure Functions' <c>IFunctionsWorkerMiddleware</c>. Registered with
/// <c>UseMiddleware&lt;T&gt;()</c>, in order; created once, from the root container (an invocation's scoped services are in <see cref="FunctionContext.InstanceServices"/>).
/// </summary>
public interface IFunctionMiddleware
{
    Task InvokeAsync(FunctionContext context, FunctionExecutionDelegate next);
}

using Cruddur.Shared.Jobs;
using Cruddur.Shared.Resilience;
using Cruddur.Tests.Fixtures;
using Cruddur.Worker.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Polly.Registry;

namespace Cruddur.Tests.Hosting;

// Functions the host tests run. Each records what it saw in the host's InvocationRecorder.

[JobContract("record-context", "tests")]
public sealed record RecordJob(string Label);

[JobContract("flaky-insert", "tests")]
public sealed record FlakyInsertJob(string Handle);

[JobContract("throw-once", "tests")]
public sealed record ThrowOnceJob(string Label);

[JobContract("slow", "tests")]
public sealed record SlowJob(int Milliseconds);

[JobContract("sum-batch", "tests")]
public sealed record NumberJob(int Value);

/// <summary>A scoped service: each invocation must get its own.</summary>
public sealed class ScopedMarker
{
    public Guid Id { get; } = Guid.NewGuid();
}

public sealed class RecordingFunctions(InvocationRecorder recorder, ScopedMarker marker)
{
    [Function("record-context")]
    public Task RunAsync([JobTrigger("tests")] RecordJob job, FunctionContext context, CancellationToken cancellationToken)
    {
        var sameScope = ReferenceEquals(context.InstanceServices.GetRequiredService<ScopedMarker>(), marker);
        recorder.Record($"{job.Label}|{context.FunctionName}|{context.JobId}|{context.Attempt}|{context.InvocationId}|{marker.Id}|{sameScope}|{cancellationToken.CanBeCanceled}");
        return Task.CompletedTask;
    }
}

[JobContract("disposable", "tests")]
public sealed record DisposableJob(string Label);

/// <summary>A function's class that holds something to release: the host disposes each instance it created, after its call.</summary>
public sealed class DisposableFunctions(InvocationRecorder recorder) : IAsyncDisposable
{
    [Function("disposable")]
    public Task RunAsync([JobTrigger("tests")] DisposableJob job)
    {
        recorder.Record($"ran {job.Label}");
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        recorder.Record("disposed");
        return ValueTask.CompletedTask;
    }
}

[JobContract("needs-unregistered", "tests")]
public sealed record UnregisteredDependencyJob(string Label);

/// <summary>Needs a service nobody registered.</summary>
public sealed class UnregisteredDependencyFunctions(InvocationRecorder recorder, UnregisteredService missing)
{
    [Function("needs-unregistered")]
    public Task RunAsync([JobTrigger("tests")] UnregisteredDependencyJob job)
    {
        recorder.Record($"{job.Label} {missing}");
        return Task.CompletedTask;
    }
}

public sealed class UnregisteredService;

[JobContract("needs-deep", "tests")]
public sealed record DeepDependencyJob(string Label);

/// <summary>Registered, but needs a service nobody registered.</summary>
public sealed class DeepStore(UnregisteredService missing)
{
    public override string ToString() => missing.ToString()!;
}

/// <summary>Its own parameter is registered; what that needs is not.</summary>
public sealed class DeepDependencyFunctions(DeepStore store)
{
    [Function("needs-deep")]
    public Task RunAsync([JobTrigger("tests")] DeepDependencyJob job) => Task.FromResult($"{job.Label} {store}");
}

public sealed class BatchFunctions(InvocationRecorder recorder)
{
    [Function("sum-batch")]
    public Task RunAsync([JobTrigger("tests")] IReadOnlyList<NumberJob> numbers)
    {
        recorder.Record($"batch of {numbers.Count}, sum {numbers.Sum(n => n.Value)}");
        return Task.CompletedTask;
    }
}

public sealed class FlakyFunctions(NpgsqlDataSource db, ResiliencePipelineProvider<string> pipelines, InvocationRecorder recorder)
{
    /// <summary>Its first database attempt loses its connection (the server terminates it); Polly must carry it through.</summary>
    [Function("flaky-insert")]
    public async Task RunAsync([JobTrigger("tests")] FlakyInsertJob job, FunctionContext context)
    {
        recorder.Record("invoked");
        var attempts = 0;
        await pipelines.GetPipeline(Retries.DatabaseWrite).ExecuteAsync(async token =>
        {
            await using var connection = await db.OpenConnectionAsync(token);
            if (++attempts == 1)
            {
                await using var terminate = new NpgsqlCommand("SELECT pg_terminate_backend(pg_backend_pid())", connection);
                await terminate.ExecuteNonQueryAsync(token);
            }
            await using var insert = new NpgsqlCommand(
                "INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES ('Flaky', @handle, 'flaky@example.com', @handle)", connection);
            insert.Parameters.AddWithValue("handle", job.Handle);
            await insert.ExecuteNonQueryAsync(token);
        }, context.CancellationToken);
        recorder.Record($"stored after {attempts} database attempts");
    }
}

public sealed class ThrowingFunctions(InvocationRecorder recorder)
{
    /// <summary>Fails its first attempt with an error Polly does not handle; the retry succeeds.</summary>
    [Function("throw-once")]
    public Task RunAsync([JobTrigger("tests")] ThrowOnceJob job, FunctionContext context)
    {
        recorder.Record($"attempt {context.Attempt}");
        return context.Attempt == 1
            ? throw new InvalidOperationException("the disk is full (a transient condition)")
            : Task.CompletedTask;
    }
}

[JobContract("schema-ahead", "tests")]
public sealed record SchemaAheadJob(string Label);

/// <summary>A function of a Worker deployed before its migration ran: the table it writes is not there yet.</summary>
public sealed class SchemaAheadFunctions(NpgsqlDataSource db)
{
    [Function("schema-ahead")]
    public async Task RunAsync([JobTrigger("tests")] SchemaAheadJob job, FunctionContext context)
    {
        await using var insert = db.CreateCommand("INSERT INTO public.not_migrated_yet (label) VALUES ($1)");
        insert.Parameters.Add(new NpgsqlParameter { Value = job.Label });
        await insert.ExecuteNonQueryAsync(context.CancellationToken);
    }
}

public sealed class SlowFunctions(InvocationRecorder recorder)
{
    [Function("slow")]
    public async Task RunAsync([JobTrigger("tests")] SlowJob job)
    {
        recorder.Record("started");
        await Task.Delay(job.Milliseconds, CancellationToken.None);
        recorder.Record("finished");
    }
}

public sealed class EverySecondTimer(InvocationRecorder recorder)
{
    [Function("every-second")]
    public Task RunAsync([TimerTrigger("* * * * * *")] TimerInfo timer, FunctionContext context)
    {
        recorder.Record($"tick|{timer.Schedule}|{context.JobId}");
        return Task.CompletedTask;
    }
}

public sealed class StartupTimer(InvocationRecorder recorder)
{
    [Function("new-year")]
    public Task RunAsync([TimerTrigger("0 0 1 1 *", RunOnStartup = true)] TimerInfo timer)
    {
        recorder.Record($"new-year|{timer.Next:yyyy-MM-dd}");
        return Task.CompletedTask;
    }
}

/// <summary>Middleware that records when it runs, to show the order of the chain.</summary>
public abstract class OrderMiddleware(InvocationRecorder recorder, string name) : IFunctionMiddleware
{
    public async Task InvokeAsync(FunctionContext context, FunctionExecutionDelegate next)
    {
        recorder.Record($"{name}>");
        await next(context);
        recorder.Record($"<{name}");
    }
}

public sealed class FirstMiddleware(InvocationRecorder recorder) : OrderMiddleware(recorder, "first");

public sealed class SecondMiddleware(InvocationRecorder recorder) : OrderMiddleware(recorder, "second");

/// <summary>Middleware that records its construction, to show it is built once for every invocation.</summary>
public sealed class CountingMiddleware : IFunctionMiddleware
{
    private readonly InvocationRecorder _recorder;

    public CountingMiddleware(InvocationRecorder recorder)
    {
        _recorder = recorder;
        recorder.Record("created");
    }

    public Task InvokeAsync(FunctionContext context, FunctionExecutionDelegate next)
    {
        _recorder.Record("counted");
        return next(context);
    }
}

/// <summary>A middleware that takes an invocation's scoped service in its constructor, where it would serve every invocation.</summary>
public sealed class ScopedCapturingMiddleware(ScopedMarker marker) : IFunctionMiddleware
{
    public Task InvokeAsync(FunctionContext context, FunctionExecutionDelegate next)
    {
        GC.KeepAlive(marker);
        return next(context);
    }
}

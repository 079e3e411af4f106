using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Cruddur.Shared.Activities;
using Cruddur.Shared.Jobs;

namespace Cruddur.Api.Activities;

/// <summary>
/// Group commit for posts: concurrent valid posts are coalesced (up to <see cref="ActivityBatchOptions.MaxSize"/>,
/// or for <see cref="ActivityBatchOptions.Linger"/>, whichever comes first) into one create-activity job, committed
/// with Hangfire. Up to <see cref="ActivityBatchOptions.MaxInFlight"/> batches commit at once, so a post that arrives
/// while a commit runs starts the next batch instead of waiting for it. Each caller's task completes only after its
/// batch's commit, with the job's id; if the commit fails, every caller of the batch gets the exception (nothing was
/// accepted). Each activity keeps its own uuid.
/// </summary>
public sealed class ActivityBatcher(IJobQueue jobs, ActivityBatchOptions options, ILogger<ActivityBatcher> logger) : BackgroundService
{
    private readonly Channel<Pending> _pending = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly BlockingCollection<List<Pending>> _ready = new();
    private readonly SemaphoreSlim _freeCommitters = new(options.MaxInFlight);
    private int _inFlight;
    private long _lastCommitEnd;

    /// <summary>Queues <paramref name="activity"/> for the next batch; completes with the batch job's id once it is committed.</summary>
    public Task<string> EnqueueAsync(CreateActivityJob activity, CancellationToken cancellationToken)
    {
        var pending = new Pending(activity, Environment.TickCount64, Activity.Current);
        if (!_pending.Writer.TryWrite(pending))
        {
            throw new InvalidOperationException("The Api is stopping; the post was not accepted.");
        }
        // A caller that gives up stops waiting; its post may still be committed with the batch (at most a stored activity nobody saw a 202 for).
        return pending.Committed.Task.WaitAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var stopping = stoppingToken.Register(() => _pending.Writer.TryComplete());
        // Hangfire's client is synchronous: each committer has its own thread rather than blocking the thread pool's.
        var committers = Enumerable.Range(0, options.MaxInFlight)
            .Select(_ => Task.Factory.StartNew(CommitLoop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default))
            .ToArray();
        var reader = _pending.Reader;
        // After a stop, what is already queued is still committed (or failed): no waiter is left hanging.
        while (await reader.WaitToReadAsync(CancellationToken.None))
        {
            // A batch starts once a committer is free: posts that arrive meanwhile join it.
            await _freeCommitters.WaitAsync(CancellationToken.None);
            var batch = await CollectAsync(reader);
            if (batch.Count == 0)
            {
                _freeCommitters.Release();
                continue;
            }
            Interlocked.Increment(ref _inFlight);
            _ready.Add(batch, CancellationToken.None);
        }
        _ready.CompleteAdding();
        await Task.WhenAll(committers);
    }

    private async Task<List<Pending>> CollectAsync(ChannelReader<Pending> reader)
    {
        var batch = new List<Pending>();
        // The linger counts from the first post's arrival, or from the end of the previous commit when that is later
        // and no commit is in flight: under a closed-loop load the posts that commit answered have Linger to come
        // back and join this batch (a job's fixed cost is most of a post's). Skipping that wait when a steady stream
        // already waited halved the batch at 64 connections (docs/performance.md).
        var free = Volatile.Read(ref _inFlight) == 0 ? Interlocked.Read(ref _lastCommitEnd) : 0;
        while (batch.Count < options.MaxSize)
        {
            if (reader.TryRead(out var next))
            {
                batch.Add(next);
                continue;
            }
            var wait = batch.Count == 0 ? 0 : Math.Max(batch[0].QueuedAt, free) + (long)options.Linger.TotalMilliseconds - Environment.TickCount64;
            if (batch.Count > 0 && wait <= 0)
            {
                break;
            }
            var more = reader.WaitToReadAsync(CancellationToken.None).AsTask();
            if (batch.Count > 0 && await Task.WhenAny(more, Task.Delay(TimeSpan.FromMilliseconds(wait), CancellationToken.None)) != more)
            {
                break;
            }
            if (!await more)
            {
                break;
            }
        }
        return batch;
    }

    private void CommitLoop()
    {
        foreach (var batch in _ready.GetConsumingEnumerable())
        {
            Commit(batch);
            Interlocked.Exchange(ref _lastCommitEnd, Environment.TickCount64);
            Interlocked.Decrement(ref _inFlight);
            _freeCommitters.Release();
        }
    }

    private void Commit(List<Pending> batch)
    {
        // The job continues the trace of the batch's first request (the job parameter records it), so a post
        // on a quiet system is one trace from its HTTP request to its insert.
        var previous = Activity.Current;
        Activity.Current = batch[0].Trace;
        try
        {
            // Hangfire.PostgreSql's client completes synchronously; on this dedicated thread, waiting costs nothing.
            var jobId = jobs.EnqueueBatchAsync(batch.ConvertAll(p => p.Activity), CancellationToken.None).GetAwaiter().GetResult();
            foreach (var pending in batch)
            {
                pending.Committed.TrySetResult(jobId);
            }
        }
        catch (Exception e)
        {
            logger.LogWarning("A batch of {Count} posts was not committed: {Error}", batch.Count, e.Message);
            foreach (var pending in batch)
            {
                pending.Committed.TrySetException(e);
            }
        }
        finally
        {
            Activity.Current = previous;
        }
    }

    private sealed record Pending(CreateActivityJob Activity, long QueuedAt, Activity? Trace)
    {
        public TaskCompletionSource<string> Committed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <summary>How posts are grouped into jobs (<c>ACTIVITY_BATCH_MAX_SIZE</c>, <c>ACTIVITY_BATCH_LINGER_MS</c>, <c>ACTIVITY_BATCH_MAX_IN_FLIGHT</c>).</summary>
public sealed record ActivityBatchOptions
{
    /// <summary>At most this many posts per job.</summary>
    public int MaxSize { get; init; } = 500;

    /// <summary>How long a batch waits for company, from its first post (or from the previous commit's end, whichever is later, when no commit is in flight).</summary>
    public TimeSpan Linger { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>At most this many batches committing at once.</summary>
    public int MaxInFlight { get; init; } = 2;

    public static ActivityBatchOptions From(IConfiguration configuration)
    {
        var defaults = new ActivityBatchOptions();
        return new ActivityBatchOptions
        {
            MaxSize = Math.Max(1, configuration.GetValue("ACTIVITY_BATCH_MAX_SIZE", defaults.MaxSize)),
            Linger = TimeSpan.FromMilliseconds(Math.Max(0, configuration.GetValue("ACTIVITY_BATCH_LINGER_MS", defaults.Linger.TotalMilliseconds))),
            MaxInFlight = Math.Max(1, configuration.GetValue("ACTIVITY_BATCH_MAX_IN_FLIGHT", defaults.MaxInFlight)),
        };
    }
}

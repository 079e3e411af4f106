using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using System.Threading.Channels;
using Cruddur.Shared.Activities;
using Cruddur.Shared.Jobs;

namespace Cruddur.Api.Activities;

/// <summary>
/// Group commit for posts: concurrent valid posts are coalesced into one create-activity job (until the batch holds
/// <see cref="ActivityBatchOptions.MaxSize"/>, or else for <see cref="ActivityBatchOptions.Linger"/> and no less than
/// <see cref="ActivityBatchOptions.MinInterval"/> after the previous commit began), committed with one Hangfire
/// transaction. Each caller's task completes only after that commit, with the job's id; if the commit fails, every
/// caller of the batch gets the exception (nothing was accepted). Each activity keeps its own uuid.
/// </summary>
public sealed class ActivityBatcher(IJobQueue jobs, ActivityBatchOptions options, ILogger<ActivityBatcher> logger) : BackgroundService
{
    private readonly Channel<Pending> _pending = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });

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
        var reader = _pending.Reader;
        var batch = new List<Pending>(options.MaxSize);
        var linger = (long)options.Linger.TotalMilliseconds;
        var interval = (long)options.MinInterval.TotalMilliseconds;
        var lastStart = long.MinValue / 2;
        // After a stop, what is already queued is still committed (or failed): no waiter is left hanging.
        while (await reader.WaitToReadAsync(CancellationToken.None))
        {
            // A batch that is not full is committed at the later of:
            // - Linger after its first post's arrival or after the previous commit's end, whichever is later: a quiet
            //   Api commits a lone post after Linger, and under load the posts answered by the previous commit have
            //   Linger to come back and join this batch;
            // - MinInterval after the previous commit began: a steady stream makes at most 1000 / MinInterval jobs a
            //   second, each carrying more posts. A job's fixed cost (Hangfire's statements, its WAL) is most of a
            //   post's; the interval is the longest a post waits for its commit to start, so it bounds the latency
            //   too (docs/performance.md, "Commit pacing" and "The Worker's share of the cores").
            // A full batch (MaxSize) is committed at once: under a heavy load pacing would only add latency.
            var free = Environment.TickCount64;
            while (batch.Count < options.MaxSize)
            {
                if (reader.TryRead(out var next))
                {
                    batch.Add(next);
                    continue;
                }
                var wait = batch.Count == 0 ? 0 : Math.Max(Math.Max(batch[0].QueuedAt, free) + linger, lastStart + interval) - Environment.TickCount64;
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
            if (batch.Count > 0)
            {
                lastStart = Environment.TickCount64;
                await CommitAsync(batch);
                batch.Clear();
            }
        }
    }

    private async Task CommitAsync(List<Pending> batch)
    {
        // The job continues the trace of the batch's first request (the job parameter records it), so a post
        // on a quiet system is one trace from its HTTP request to its insert.
        var previous = Activity.Current;
        Activity.Current = batch[0].Trace;
        try
        {
            var jobId = await jobs.EnqueueBatchAsync(batch.ConvertAll(p => p.Activity), CancellationToken.None);
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

/// <summary>How posts are grouped into one job.</summary>
public sealed record ActivityBatchOptions
{
    /// <summary>At most this many posts per job; a full batch is committed without waiting.</summary>
    [ConfigurationKeyName("ACTIVITY_BATCH_MAX_SIZE"), Display(Name = "ACTIVITY_BATCH_MAX_SIZE"), Range(1, 10_000)]
    public int MaxSize { get; init; } = 64;

    /// <summary>How long a batch waits for company, from its first post or from the previous commit's end, whichever is later.</summary>
    [ConfigurationKeyName("ACTIVITY_BATCH_LINGER_MS"), Display(Name = "ACTIVITY_BATCH_LINGER_MS"), Range(0, 600_000)]
    public double LingerMilliseconds { get; init; } = 2;

    public TimeSpan Linger => TimeSpan.FromMilliseconds(LingerMilliseconds);

    /// <summary>A batch that is not full is committed no sooner than this after the previous commit began; 0 turns pacing off.</summary>
    [ConfigurationKeyName("ACTIVITY_BATCH_MIN_INTERVAL_MS"), Display(Name = "ACTIVITY_BATCH_MIN_INTERVAL_MS"), Range(0, 600_000)]
    public double MinIntervalMilliseconds { get; init; } = 5;

    public TimeSpan MinInterval => TimeSpan.FromMilliseconds(MinIntervalMilliseconds);
}

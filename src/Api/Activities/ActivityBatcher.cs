using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using Cruddur.Shared.Activities;
using Cruddur.Shared.Jobs;

namespace Cruddur.Api.Activities;

/// <summary>
/// Group commit for posts: concurrent valid posts are coalesced into one create-activity job (until the batch holds
/// <see cref="ActivityBatchOptions.MaxSize"/>, or else for <see cref="ActivityBatchOptions.Linger"/> and no less than
/// <see cref="ActivityBatchOptions.MinInterval"/> after the previous commit began), committed with one Hangfire transaction.
/// Each caller's task completes only after that commit, with the job's id; if the commit fails, every caller of the batch
/// gets the exception (nothing was accepted). Each activity keeps its own uuid.
/// </summary>
public sealed class ActivityBatcher(IJobQueue jobs, ActivityBatchOptions options, ILogger<ActivityBatcher> logger) : BackgroundService
{
    private readonly object _gate = new();
    private readonly List<QueuedPost> _queued = [];
    private bool _stopping;

    /// <summary>
    /// Queues <paramref name="post"/> for the next batch: <paramref name="committed"/> completes with the batch job's id
    /// once it is committed. False, and nothing queued, when <see cref="ActivityBatchOptions.MaxPending"/> posts already
    /// wait: past that the database is not keeping up, and the post is better refused (503) than held in memory.
    /// </summary>
    public bool TryEnqueue(CreateActivityJob post, CancellationToken cancellationToken, [NotNullWhen(true)] out Task<string>? committed)
    {
        var queued = new QueuedPost(post, Stopwatch.GetTimestamp(), Activity.Current);
        lock (_gate)
        {
            if (_stopping)
            {
                throw new InvalidOperationException("The Api is stopping; the post was not accepted.");
            }
            if (_queued.Count >= options.MaxPending)
            {
                committed = null;
                return false;
            }
            _queued.Add(queued);
            // Wakes the committer for a first post, and for a full batch, which goes at once.
            if (_queued.Count == 1 || _queued.Count == options.MaxSize)
            {
                Monitor.Pulse(_gate);
            }
        }
        // A caller that gives up stops waiting; its post may still be committed with the batch (at most a stored activity nobody saw a 202 for).
        committed = queued.Committed.Task.WaitAsync(cancellationToken);
        return true;
    }

    // The committer runs on a thread of its own and waits with Monitor.Wait, which keeps to the millisecond. Task.Delay and
    // Environment.TickCount64 follow the kernel's coarse clock, 4 ms ticks on this kind of machine: a 2 ms Task.Delay took
    // 4.3 ms at the median and a 5 ms interval up to 8 (docs/lab/post-latency.md, "A clock that keeps to the millisecond").
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        stoppingToken.Register(() =>
        {
            lock (_gate)
            {
                _stopping = true;
                Monitor.Pulse(_gate);
            }
        });
        return Task.Factory.StartNew(CommitBatches, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    private void CommitBatches()
    {
        var linger = Stopwatch.Frequency * options.Linger.Ticks / TimeSpan.TicksPerSecond;
        var interval = Stopwatch.Frequency * options.MinInterval.Ticks / TimeSpan.TicksPerSecond;
        var lastStart = long.MinValue / 2;
        var free = Stopwatch.GetTimestamp();
        var batch = new List<QueuedPost>(options.MaxSize);
        while (true)
        {
            lock (_gate)
            {
                // A batch that is not full is committed at the later of:
                // - Linger after its first post's arrival or after the previous commit's end, whichever is later: a quiet
                //   Api commits a lone post after Linger, and under load the posts answered by the previous commit have
                //   Linger to come back and join this batch;
                // - MinInterval after the previous commit began: a steady stream makes at most 1000 / MinInterval jobs a
                //   second, each carrying more posts. A job's fixed cost (Hangfire's statements, its WAL) is most of a
                //   post's; the interval is the longest a post waits for its commit to start, so it bounds the latency
                //   too (docs/lab/post-latency.md, "Commit pacing", "The Worker's share of the cores" and "One interval at every load").
                // A full batch (MaxSize) is committed at once: under a heavy load pacing would only add latency. After a
                // stop, what is already queued is still committed (or failed): no waiter is left hanging.
                while (_queued.Count < options.MaxSize)
                {
                    if (_queued.Count == 0)
                    {
                        if (_stopping)
                        {
                            return;
                        }
                        Monitor.Wait(_gate);
                        continue;
                    }
                    var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), Math.Max(Math.Max(_queued[0].QueuedAt, free) + linger, lastStart + interval));
                    if (wait <= TimeSpan.Zero || _stopping)
                    {
                        break;
                    }
                    Monitor.Wait(_gate, (int)Math.Ceiling(wait.TotalMilliseconds));
                }
                var count = Math.Min(_queued.Count, options.MaxSize);
                batch.AddRange(_queued.GetRange(0, count));
                _queued.RemoveRange(0, count);
            }
            lastStart = Stopwatch.GetTimestamp();
            Commit(batch);
            batch.Clear();
            free = Stopwatch.GetTimestamp();
        }
    }

    private void Commit(List<QueuedPost> batch)
    {
        // The job continues the trace of the batch's first request (the job parameter records it), so a post
        // on a quiet system is one trace from its HTTP request to its insert.
        var previous = Activity.Current;
        Activity.Current = batch[0].Trace;
        try
        {
            // This thread is the committer's own: it waits for the commit, as it waits for the clock.
            var jobId = jobs.EnqueueBatch(batch.ConvertAll(p => p.Post));
            foreach (var post in batch)
            {
                post.Committed.TrySetResult(jobId);
            }
        }
        catch (Exception e)
        {
            logger.LogWarning("A batch of {Count} posts was not committed: {Error}", batch.Count, e.Message);
            foreach (var post in batch)
            {
                post.Committed.TrySetException(e);
            }
        }
        finally
        {
            Activity.Current = previous;
        }
    }

    // A post waiting for its batch's commit, with the trace of the request that made it (System.Diagnostics.Activity).
    private sealed record QueuedPost(CreateActivityJob Post, long QueuedAt, Activity? Trace)
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

    /// <summary>Posts waiting for their commit, at most; past it a post is answered 503 with Retry-After.</summary>
    [ConfigurationKeyName("ACTIVITY_BATCH_MAX_PENDING"), Display(Name = "ACTIVITY_BATCH_MAX_PENDING"), Range(1, 1_000_000)]
    public int MaxPending { get; init; } = 10_000;
}

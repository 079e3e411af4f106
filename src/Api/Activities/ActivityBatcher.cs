using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using Cruddur.Shared.Activities;
using Cruddur.Shared.Jobs;

namespace Cruddur.Api.Activities;

/// <summary>
/// Group commit for posts: the valid posts waiting when a commit starts are committed together in one statement, into a
/// create-activity job that the posts of <see cref="ActivityBatchOptions.MinInterval"/> share (an open job, put on its
/// queue after it; see <see cref="Commit"/>). Each caller's task completes only after its commit, with the job's id; if
/// the commit fails, every caller of the batch gets the exception (no 202; stored only if the connection broke after the
/// commit reached the server). Each activity keeps its own uuid.
/// </summary>
public sealed class ActivityBatcher(IJobQueue jobs, ActivityBatchOptions options, ActivityBatchMetrics metrics, ILogger<ActivityBatcher> logger)
    : BackgroundService
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
        var free = long.MinValue / 2;
        var lastStart = long.MinValue / 2;
        var batch = new List<QueuedPost>(options.MaxSize);
        var job = new OpenJob();
        var heavy = false;
        while (true)
        {
            var closeOnly = false;
            lock (_gate)
            {
                // A batch that is not full is committed Linger after its first post's arrival or after the previous commit's
                // end, whichever is later (0 by default: at once). Under a heavy load (this batch or the previous one at
                // least half full) it waits for the rest until MinInterval after the previous commit began: a job is then a
                // full batch of its own, and the jobs are paced as before open jobs. (Waiting only when this batch was half
                // full, the posts that came during a commit went at once, a small job each: 51 posts per job and 121-136 µs
                // of CPU per signed-in post at 64 connections; docs/lab/signed-in.md.) With no post waiting, an open job is
                // closed MinInterval after it opened (or at a stop): the posts of a steady stream join one job for that long,
                // each committed at once. After a stop, what is already queued is still committed (or failed): no waiter is
                // left hanging.
                while (_queued.Count < options.MaxSize)
                {
                    if (_queued.Count == 0)
                    {
                        if (job.Id is not null)
                        {
                            var untilClose = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), job.CloseAt(interval));
                            if (untilClose <= TimeSpan.Zero || _stopping)
                            {
                                closeOnly = true;
                                break;
                            }
                            Monitor.Wait(_gate, (int)Math.Ceiling(untilClose.TotalMilliseconds));
                            continue;
                        }
                        if (_stopping)
                        {
                            return;
                        }
                        Monitor.Wait(_gate);
                        continue;
                    }
                    var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), Math.Max(
                        Math.Max(_queued[0].QueuedAt, free) + linger, heavy || _queued.Count * 2 >= options.MaxSize ? lastStart + interval : long.MinValue));
                    if (wait <= TimeSpan.Zero || _stopping)
                    {
                        break;
                    }
                    Monitor.Wait(_gate, (int)Math.Ceiling(wait.TotalMilliseconds));
                }
                if (!closeOnly)
                {
                    var count = Math.Min(_queued.Count, options.MaxSize);
                    batch.AddRange(_queued.GetRange(0, count));
                    _queued.RemoveRange(0, count);
                }
            }
            if (closeOnly)
            {
                Close(job);
                continue;
            }
            lastStart = Stopwatch.GetTimestamp();
            var ownJob = Commit(batch, job, quiet: lastStart - free >= interval, heavy, interval);
            heavy = batch.Count * 2 >= options.MaxSize;
            batch.Clear();
            // Under a load that makes every batch a job of its own, no later commit closes the open job: this does.
            if (ownJob && job.Id is not null && Stopwatch.GetTimestamp() >= job.CloseAt(interval))
            {
                Close(job);
            }
            free = Stopwatch.GetTimestamp();
        }
    }

    // A post is answered once it is committed, and a job is a Worker's fixed cost: posts of a steady stream are committed
    // at once into an open job, which a later commit closes (puts on its queue) once it has been open MinInterval or is
    // full. A lone post on a quiet Api (none committed for MinInterval) is a job of its own, enqueued at once, and so is a
    // batch under a heavy load (it or the previous one at least half the maximum), which has waited for the interval: a
    // job of its own costs one statement where an open job costs three or more (its open, an append, its close); with
    // every batch appended, the signed-in post at 64 connections cost 118-125 µs of CPU against 102 (docs/performance.md,
    // "Open jobs"). Each commit is one statement. Returns whether the batch was a job of its own.
    private bool Commit(List<QueuedPost> batch, OpenJob job, bool quiet, bool heavy, long interval)
    {
        // The job continues the trace of the batch's first request (the job parameter records it), so a post
        // on a quiet system is one trace from its HTTP request to its insert.
        var previous = Activity.Current;
        Activity.Current = batch[0].Trace;
        var ownJob = heavy || batch.Count * 2 >= options.MaxSize || (job.Id is null && quiet);
        var start = Stopwatch.GetTimestamp();
        metrics.CommitStarted(batch, static p => p.QueuedAt, start);
        var kind = ownJob ? "job" : "append";
        try
        {
            var posts = batch.ConvertAll(p => p.Post);
            string jobId;
            if (ownJob)
            {
                jobId = jobs.EnqueueBatch(posts);
            }
            else if (job.Id is null || Stopwatch.GetTimestamp() >= job.CloseAt(interval) || job.Count + batch.Count > options.MaxSize
                     || !jobs.AppendToBatch(job.Id, posts))
            {
                // A job closed by someone else (CloseAbandonedOpenJobs, after a stall) takes no more: these open a new one.
                kind = "open";
                jobId = jobs.OpenBatch(posts, job.Id);
                job.Opened(jobId, batch.Count);
            }
            else
            {
                jobId = job.Id;
                job.Count += batch.Count;
            }
            metrics.Committed(kind, succeeded: true, batch.Count, start);
            foreach (var post in batch)
            {
                post.Committed.TrySetResult(jobId);
            }
        }
        catch (Exception e)
        {
            // The open job, if any, stays the one to close: closing is idempotent, and a later commit or Close does it.
            metrics.Committed(kind, succeeded: false, batch.Count, start);
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
        return ownJob;
    }

    private void Close(OpenJob job)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            jobs.CloseBatch<CreateActivityJob>(job.Id!);
            metrics.Committed("close", succeeded: true, posts: 0, start);
            job.Closed();
        }
        catch (Exception e)
        {
            metrics.Committed("close", succeeded: false, posts: 0, start);
            // Tried again a second later, or by the next commit; a post in it is not lost meanwhile (it is committed). A
            // stopping Api leaves it to the Workers' AbandonedOpenJobCloser.
            logger.LogWarning("Open job {JobId} was not put on its queue yet: {Error}", job.Id, e.Message);
            bool stopping;
            lock (_gate)
            {
                stopping = _stopping;
            }
            if (stopping)
            {
                job.Closed();
                return;
            }
            job.OpenedAt = Stopwatch.GetTimestamp() + Stopwatch.Frequency;
        }
    }

    // The committer's open job: its id, when it opened and how many posts it holds.
    private sealed class OpenJob
    {
        public string? Id { get; private set; }

        public long OpenedAt { get; set; }

        public int Count { get; set; }

        public long CloseAt(long interval) => OpenedAt + interval;

        public void Opened(string id, int count) => (Id, OpenedAt, Count) = (id, Stopwatch.GetTimestamp(), count);

        public void Closed() => (Id, Count) = (null, 0);
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

    /// <summary>How long a commit waits for company, from its first post or from the previous commit's end, whichever is later.</summary>
    [ConfigurationKeyName("ACTIVITY_BATCH_LINGER_MS"), Display(Name = "ACTIVITY_BATCH_LINGER_MS"), Range(0, 600_000)]
    public double LingerMilliseconds { get; init; }

    public TimeSpan Linger => TimeSpan.FromMilliseconds(LingerMilliseconds);

    /// <summary>How long the posts of a steady stream share one open job, which then goes on its queue; 0: a job per commit.</summary>
    [ConfigurationKeyName("ACTIVITY_BATCH_MIN_INTERVAL_MS"), Display(Name = "ACTIVITY_BATCH_MIN_INTERVAL_MS"), Range(0, 600_000)]
    public double MinIntervalMilliseconds { get; init; } = 5;

    public TimeSpan MinInterval => TimeSpan.FromMilliseconds(MinIntervalMilliseconds);

    /// <summary>Posts waiting for their commit, at most; past it a post is answered 503 with Retry-After.</summary>
    [ConfigurationKeyName("ACTIVITY_BATCH_MAX_PENDING"), Display(Name = "ACTIVITY_BATCH_MAX_PENDING"), Range(1, 1_000_000)]
    public int MaxPending { get; init; } = 10_000;
}

using System.Diagnostics;
using System.Diagnostics.Metrics;
using Cruddur.Shared.Observability;

namespace Cruddur.Api.Activities;

/// <summary>
/// The group commit's metrics, on Cruddur's meter (exported with the others, <see cref="CruddurTelemetry"/>): how long a
/// post waits for its batch's commit to begin, how long a commit takes (its statement and the WAL flush, the part of a
/// post's answer that the database's disk decides), and how many posts it carries. A slow RDS flush shows in the commit's
/// duration, a committer that cannot keep up in the wait. Created with the host's <see cref="IMeterFactory"/>.
/// </summary>
public sealed class ActivityBatchMetrics
{
    // Seconds, as OpenTelemetry's conventions say; at 1,000 posts/s a commit takes about half a millisecond and the wait
    // tens of microseconds, below the first bucket of http.server.request.duration's boundaries (5 ms).
    private static readonly IReadOnlyList<double> SecondsBuckets =
        [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

    private readonly Histogram<double> _wait;
    private readonly Histogram<double> _duration;
    private readonly Histogram<int> _size;

    public ActivityBatchMetrics(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(CruddurTelemetry.Name);
        _wait = meter.CreateHistogram("cruddur.activity.commit.wait", "s",
            "How long a post waited for its batch's commit to begin.", tags: null, new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _duration = meter.CreateHistogram("cruddur.activity.commit.duration", "s",
            "How long a commit of posts took, by kind (job: a job of its own; open: a job opened; append: posts added to the open job; close: an open job queued) and outcome.",
            tags: null, new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _size = meter.CreateHistogram("cruddur.activity.commit.size", "{post}",
            "How many posts a commit carried.", tags: null, new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] });
    }

    /// <summary>Records each post's wait, from its arrival (a <see cref="Stopwatch"/> timestamp) to <paramref name="start"/>.</summary>
    public void CommitStarted<T>(IReadOnlyList<T> batch, Func<T, long> arrivedAt, long start)
    {
        if (!_wait.Enabled)
        {
            return;
        }
        foreach (var post in batch)
        {
            _wait.Record(Stopwatch.GetElapsedTime(arrivedAt(post), start).TotalSeconds);
        }
    }

    /// <summary>
    /// Records a commit that began at <paramref name="start"/>: of <paramref name="posts"/> posts, or of none (kind
    /// <c>close</c>: an open job put on its queue, which the posts behind it wait for as well).
    /// </summary>
    public void Committed(string kind, bool succeeded, int posts, long start)
    {
        if (!_duration.Enabled && !_size.Enabled)
        {
            return;
        }
        var tags = new TagList { { "kind", kind }, { "outcome", succeeded ? "success" : "failure" } };
        _duration.Record(Stopwatch.GetElapsedTime(start).TotalSeconds, tags);
        if (posts > 0)
        {
            _size.Record(posts, tags);
        }
    }
}

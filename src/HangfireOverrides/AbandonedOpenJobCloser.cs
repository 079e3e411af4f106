using Hangfire.Logging;
using Hangfire.Server;

namespace Cruddur.HangfireOverrides;

/// <summary>
/// Puts on their queue the open jobs an Api left when it died (<see cref="BatchingPostgreSqlStorage.CloseAbandonedOpenJobsAsync"/>):
/// their posts were answered 202 and are committed, but no Worker fetches an open job. A component of the storage, as the
/// library's expiration manager is, so every Hangfire server runs it from its start, every minute, and no dashboard action
/// (a recurring job deleted) can stop it. Running in many servers at once loses and doubles nothing: a job is closed by
/// one statement that only an open job matches.
/// </summary>
#pragma warning disable CS0618 // IServerComponent: what the library's storage hands its server (GetComponents)
internal sealed class AbandonedOpenJobCloser(BatchingPostgreSqlStorage storage) : IBackgroundProcess, IServerComponent
#pragma warning restore CS0618
{
    /// <summary>
    /// An open job lives for the Api's batch interval (milliseconds), or while its Api waits out an outage; one this old was
    /// left by an Api that died. Closing one an Api still holds loses nothing: the Api's next append finds it closed and
    /// opens another job.
    /// </summary>
    public static readonly TimeSpan AbandonedAfter = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);
    private readonly ILog _logger = LogProvider.GetLogger(typeof(AbandonedOpenJobCloser));

    public void Execute(BackgroundProcessContext context) => Execute(context.StoppingToken);

    // A failure (the database away) is the server's to log and retry with a backoff, as for the library's components.
    public void Execute(CancellationToken cancellationToken)
    {
        var closed = storage.CloseAbandonedOpenJobsAsync(AbandonedAfter, cancellationToken).GetAwaiter().GetResult();
        if (closed > 0)
        {
            _logger.WarnFormat("Queued {0} open batch job(s) left by an Api that stopped before closing them", closed);
        }
        cancellationToken.WaitHandle.WaitOne(Interval);
    }

    public override string ToString() => "Abandoned open job closer";
}

using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Cruddur.HangfireOverrides;

/// <summary>
/// Wakes this process's fetchers of a queue as soon as another process commits a job to it, rather than at their next
/// poll (<c>QueuePollInterval</c>): one connection LISTENs on the channel <see cref="BatchingPostgreSqlStorage"/>'s enqueue
/// notifies with the job's queue, and each notification sets the library's own wake-up of that queue's fetchers (the
/// event its commit sets in the process that enqueued), so a waiting Dequeue fetches at once.
/// <para>
/// Not the library's <c>EnableLongPolling</c>: that opens a listening connection for every Dequeue call, cost 13 ms of CPU
/// per job and left jobs unrun here (docs/architecture.md, "Measured facts"). The poll stays as the fallback: a
/// notification missed while this reconnects costs a job at most one poll interval, and a reconnect sets each queue's
/// wake-up once, so a job committed meanwhile is fetched then.
/// </para>
/// </summary>
public sealed partial class NewJobListener(NpgsqlDataSource dataSource, IReadOnlyCollection<string> queues, ILogger<NewJobListener> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var failures = 0;
        // A reconnect loop rather than a retry pipeline: the connection is held for the process's life, and every
        // failure, however many in a row, is followed by another attempt.
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (failures > 0)
                {
                    await Task.Delay(Backoff(failures), stoppingToken);
                }
                await using var connection = await dataSource.OpenConnectionAsync(stoppingToken);
                connection.Notification += (_, e) => BatchingPostgreSqlStorage.QueueEvents.Set(e.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {BatchingPostgreSqlStorage.NewJobChannel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }
                if (failures > 0)
                {
                    LogListeningAgain(failures);
                    failures = 0;
                    foreach (var queue in queues)
                    {
                        BatchingPostgreSqlStorage.QueueEvents.Set(queue);
                    }
                }
                // A host that stops answering ends this wait with an error: the kernel's TCP keepalive when packets are
                // dropped (12 s), Npgsql's keepalive when something still ACKs and relays nothing (two periods, 20 s).
                while (true)
                {
                    await connection.WaitAsync(stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // One line per outage, not per attempt; Npgsql's messages name the host and the role, never the password.
                if (failures++ == 0)
                {
                    LogNotListening(e.Message);
                }
            }
        }
    }

    // 0.25 s, doubling to 5 s: a server back from a restart is found within a quarter second of the first attempts.
    private static TimeSpan Backoff(int failures) => TimeSpan.FromMilliseconds(Math.Min(5000, 250 << Math.Min(failures - 1, 5)));

    [LoggerMessage(Level = LogLevel.Warning, Message = "Not listening for new jobs ({Reason}): jobs other processes commit wait for the queue's next poll until it is back")]
    private partial void LogNotListening(string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Listening for new jobs again, after {Attempts} failed attempt(s)")]
    private partial void LogListeningAgain(int attempts);
}

using Npgsql;

namespace Cruddur.Shared.Data;

/// <summary>
/// A health check's one statement, answered within <see cref="Timeout"/> whatever the network does. Cancelling a
/// statement on a connection whose packets are dropped takes Npgsql its cancellation request's connect and wait (the
/// probes answered after 7-8 s in the failover scenario), longer than a load balancer waits for a probe; so the answer
/// does not wait for the statement, which is cancelled and ends by itself.
/// </summary>
public static class HealthProbe
{
    /// <summary>How long a probe waits for PostgreSQL before calling it unreachable.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    /// <summary>
    /// The first column of <paramref name="sql"/>'s first row; <see cref="TimeoutException"/> if PostgreSQL did not answer
    /// within <see cref="Timeout"/>, and Npgsql's error if it failed sooner.
    /// </summary>
    public static async Task<object?> ScalarAsync(NpgsqlDataSource dataSource, string sql, object? parameter, CancellationToken cancellationToken)
    {
        var query = RunAsync(dataSource, sql, parameter, cancellationToken);
        try
        {
            return await query.WaitAsync(Timeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            _ = query.ContinueWith(static late => late.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            throw new TimeoutException($"no answer within {Timeout.TotalSeconds:0} s");
        }
    }

    private static async Task<object?> RunAsync(NpgsqlDataSource dataSource, string sql, object? parameter, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        await using var command = dataSource.CreateCommand(sql);
        if (parameter is not null)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = parameter });
        }
        return await command.ExecuteScalarAsync(timeout.Token);
    }
}

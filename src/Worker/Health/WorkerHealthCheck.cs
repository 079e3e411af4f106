using Cruddur.Shared.Data;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace Cruddur.Worker.Health;

/// <summary>
/// Healthy when this process's Hangfire server has heartbeated lately, which also proves Postgres answers. One
/// statement on the process's own pool, answered within <see cref="HealthProbe.Timeout"/>: Hangfire's storage API would
/// wait out an outage (<c>DATABASE_OUTAGE_WAIT_SECONDS</c>), and a probe must answer within the platform's timeout. A
/// failed probe names a full disk when this process met one (<see cref="DatabaseDiskFull"/>).
/// </summary>
internal sealed class WorkerHealthCheck(NpgsqlDataSource dataSource) : IHealthCheck
{
    /// <summary>
    /// A heartbeat older than this is a server that stopped: Hangfire heartbeats every 30 s (its default
    /// <c>HeartbeatInterval</c>), so this allows one late beat.
    /// </summary>
    public static readonly TimeSpan StaleHeartbeat = TimeSpan.FromSeconds(75);

    // Hangfire names its server "{ServerName}:{...}", lower-cased; ServerName is "{MachineName}:{ProcessId}" (FunctionHostBuilder).
    private static readonly string ServerIdPrefix = $"{Environment.MachineName}:{Environment.ProcessId}:".ToLowerInvariant();

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        double? age;
        try
        {
            age = await HealthProbe.ScalarAsync(dataSource,
                "SELECT extract(epoch FROM now() - max(lastheartbeat))::float8 FROM hangfire.server WHERE starts_with(id, $1)", ServerIdPrefix, cancellationToken) as double?;
            DatabaseDiskFull.Clear();
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy(DatabaseDiskFull.UnhealthyReason(e));
        }
        return age switch
        {
            null => HealthCheckResult.Unhealthy("The Hangfire server has not started (the Worker migrates first) or has stopped."),
            var seconds when seconds > StaleHeartbeat.TotalSeconds => HealthCheckResult.Unhealthy($"The Hangfire server's last heartbeat was {seconds:0} s ago."),
            _ => HealthCheckResult.Healthy("The Hangfire server heartbeats and Postgres answers."),
        };
    }
}

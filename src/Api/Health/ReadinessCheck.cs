using Cruddur.Shared.Data;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace Cruddur.Api.Health;

/// <summary>
/// Ready when Postgres answers and Hangfire's storage (its schema, installed by a Worker's migration) is there. One
/// statement answered within <see cref="HealthProbe.Timeout"/>: a probe must answer within the platform's timeout. A
/// failed probe names a full disk when this process met one (<see cref="DatabaseDiskFull"/>): PostgreSQL stops when its
/// WAL cannot be written, and then only refuses.
/// </summary>
internal sealed class ReadinessCheck(NpgsqlDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var installed = (bool)(await HealthProbe.ScalarAsync(dataSource, "SELECT to_regclass('hangfire.job') IS NOT NULL", null, cancellationToken))!;
            DatabaseDiskFull.Clear();
            return installed
                ? HealthCheckResult.Healthy("Postgres and Hangfire storage reachable")
                : HealthCheckResult.Unhealthy("Hangfire's tables are missing: start a Worker (it migrates) or run bin/db-schema-load");
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy(DatabaseDiskFull.UnhealthyReason(e));
        }
    }

    /// <summary>The answer's body: one "Status: reason" line per check, as the Worker's /healthz, so a probe's log says why.</summary>
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(string.Join('\n', report.Entries.Select(e => $"{e.Value.Status}: {e.Value.Description}")) + "\n");
    }
}

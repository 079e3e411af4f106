using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace Cruddur.Api.Health;

/// <summary>Ready when Postgres answers and Hangfire's storage (its schema, installed by a Worker's migration) is there.</summary>
internal sealed class ReadinessCheck(NpgsqlDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var command = dataSource.CreateCommand("SELECT to_regclass('hangfire.job') IS NOT NULL");
            return (bool)(await command.ExecuteScalarAsync(cancellationToken))!
                ? HealthCheckResult.Healthy("Postgres and Hangfire storage reachable")
                : HealthCheckResult.Unhealthy("Hangfire's tables are missing: start a Worker (it migrates) or run bin/db-schema-load");
        }
        catch (NpgsqlException e)
        {
            return HealthCheckResult.Unhealthy($"Postgres unreachable: {e.Message}");
        }
    }
}

using Cruddur.Shared.Data;
using Cruddur.Shared.Resilience;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cruddur.Worker.Hosting;

/// <summary>
/// Applies migrations and the seed before the Hangfire server takes any job (hosted services start in
/// order, and this one is registered first). Waits for an unreachable database, saying so, rather than
/// failing: Workers may start before Postgres does.
/// </summary>
internal sealed class DatabaseStartup(DatabaseMigrator migrator, ILogger<DatabaseStartup> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromMilliseconds(500);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await migrator.MigrateAsync(seed: true, cancellationToken);
                return;
            }
            catch (Exception e) when (DatabaseResilience.IsTransient(e))
            {
                logger.LogWarning("Database not reachable yet (attempt {Attempt}: {Error}); retrying in {Delay:0.0} s",
                    attempt, e.Message, delay.TotalSeconds);
                await Task.Delay(delay, cancellationToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

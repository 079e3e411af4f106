using Cruddur.Shared.Data;
using Cruddur.Shared.Resilience;
using Microsoft.Extensions.Hosting;
using Polly.Registry;

namespace Cruddur.Worker.Hosting;

/// <summary>
/// Applies migrations and the seed before the Hangfire server takes any job (hosted services start in
/// order, and this one is registered first). Waits for an unreachable database, saying so, rather than
/// failing (the <see cref="Retries.DatabaseStartup"/> pipeline): Workers may start before Postgres does.
/// </summary>
internal sealed class DatabaseStartup(DatabaseMigrator migrator, ResiliencePipelineProvider<string> pipelines) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken) =>
        await pipelines.GetPipeline(Retries.DatabaseStartup).ExecuteAsync(
            async token => await migrator.MigrateAsync(seed: true, token), cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

using Cruddur.Shared.Data;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cruddur.Worker.Hosting;

/// <summary>
/// <c>Cruddur.Worker migrate [--schema-only]</c>: applies what a Worker applies at startup, then exits.
/// <c>bin/db-schema-load</c> runs it with <c>--schema-only</c>, so scripts and processes share one journal.
/// </summary>
internal static class MigrateCommand
{
    public static async Task<int> RunAsync(string[] options)
    {
        var unknown = options.Where(o => o != "--schema-only").ToList();
        if (unknown.Count > 0)
        {
            await Console.Error.WriteLineAsync($"migrate: unknown option {unknown[0]} (usage: migrate [--schema-only])");
            return 2;
        }

        // The caller's environment only (and the code's defaults): no appsettings.json from whatever directory the
        // script runs in, no launch profile, no user secrets. A migration acts on the database it is told.
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddEnvironmentVariables();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.AddFilter("Npgsql", LogLevel.Warning);
        try
        {
            builder.Services.AddCruddurData(builder.Configuration);
            using var host = builder.Build();
            var migrator = host.Services.GetRequiredService<DatabaseMigrator>();
            var report = await migrator.MigrateAsync(seed: !options.Contains("--schema-only"));
            Console.WriteLine(report.AppliedMigrations.Count == 0 && !report.SeedApplied
                ? "Database is up to date."
                : $"Applied: {string.Join(", ", report.AppliedMigrations.Append(report.SeedApplied ? DatabaseMigrator.SeedScriptName : null).OfType<string>())}");
            return 0;
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or Npgsql.NpgsqlException)
        {
            await Console.Error.WriteLineAsync($"migrate failed: {e.Message}");
            return 1;
        }
    }
}

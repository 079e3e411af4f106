using Cruddur.Shared.Jobs;
using Cruddur.Shared.Resilience;
using DbUp;
using DbUp.Engine;
using DbUp.Postgresql;
using Microsoft.Extensions.Logging;
using Npgsql;
using Polly.Registry;

namespace Cruddur.Shared.Data;

/// <summary>What a migration run applied; empty lists when the database was already current.</summary>
public sealed record MigrationReport(IReadOnlyList<string> AppliedMigrations, bool SeedApplied);

/// <summary>
/// Applies <c>db/migrations/*.sql</c> (and, once, <c>db/seed.sql</c>) with DbUp, journaled in
/// <c>public.schema_migrations</c>, and Hangfire's schema with Hangfire's installer (then how its job table compresses
/// the jobs' arguments, <c>db/hangfire-storage.sql</c>), then grants the runtime roles their rows (<c>db/grants.sql</c>).
/// Runs under a Postgres advisory lock, so any number of processes starting together migrate exactly once; the lock is a
/// session lock, released if the holder dies.
/// Nothing here drops data: scripts are append-only and each runs once. A database that is current is only read,
/// so a process whose role may not change the schema (a runtime role) starts on it.
/// The data source is the migration role's (<c>MIGRATION_CONNECTION_URL</c>, else <c>CONNECTION_URL</c>).
/// </summary>
public sealed class DatabaseMigrator(NpgsqlDataSource dataSource, ResiliencePipelineProvider<string> pipelines, ILogger<DatabaseMigrator> logger)
{
    /// <summary>Scripts are journaled here; the name is also how a DBA sees what ran.</summary>
    public const string JournalTable = "schema_migrations";

    /// <summary>The journal entry that records the seed.</summary>
    public const string SeedScriptName = "seed.sql";

    /// <summary>The runtime roles' grants, run after every migration (<c>db/grants.sql</c>).</summary>
    public const string GrantsScriptName = "grants.sql";

    /// <summary>How Hangfire's tables store their rows, set after its installer on every start (<c>db/hangfire-storage.sql</c>).</summary>
    public const string HangfireStorageScriptName = "hangfire-storage.sql";

    // Any constant works; it only has to be the same in every process that migrates this database.
    private const long AdvisoryLockKey = 0x43_72_75_64_64_75_72; // "Cruddur"

    /// <summary>Applies pending migrations, then the seed if <paramref name="seed"/> and it never ran.</summary>
    public async Task<MigrationReport> MigrateAsync(bool seed, CancellationToken cancellationToken = default)
    {
        await using var lockConnection = await OpenAsync(cancellationToken);
        await AcquireLockAsync(lockConnection, cancellationToken);
        try
        {
            var applied = Run(Engine().WithScriptsFromFileSystem(System.IO.Path.Combine(DbDirectory.Path, "migrations")));
            // Hangfire's own installer, under the same lock, so processes starting together never race on it. Its
            // first script creates the schema, which needs the right to create one: it runs only when Hangfire's
            // schema is older than this Hangfire's.
            var hangfireInstalled = await HangfireSchemaIsCurrentAsync(lockConnection, cancellationToken);
            if (!hangfireInstalled)
            {
                JobStorageServiceCollectionExtensions.InstallSchema(dataSource);
            }
            if (lockConnection.PostgreSqlVersion.Major >= 14) // column compression methods came with 14
            {
                await RunScriptAsync(lockConnection, HangfireStorageScriptName, cancellationToken);
            }
            var seeded = false;
            if (seed)
            {
                var seedText = await File.ReadAllTextAsync(System.IO.Path.Combine(DbDirectory.Path, SeedScriptName), cancellationToken);
                seeded = Run(Engine().WithScript(SeedScriptName, seedText)).Count > 0;
            }
            await RunScriptAsync(lockConnection, GrantsScriptName, cancellationToken);
            logger.LogInformation(
                "Database migrated: {Count} migration(s) applied{Seed}", applied.Count, seeded ? ", seed applied" : "");
            return new MigrationReport(applied, seeded);
        }
        catch (Exception e) when (InsufficientPrivilege(e) is { } denied)
        {
            throw new InvalidOperationException(
                $"The database role '{lockConnection.UserName}' may not change the schema ({denied.MessageText}): set " +
                $"{DataServiceCollectionExtensions.MigrationConnectionUrlKey} to the migration role's URL (bin/db-roles makes it).", e);
        }
        finally
        {
            await using var unlock = new NpgsqlCommand("SELECT pg_advisory_unlock(@key)", lockConnection);
            unlock.Parameters.AddWithValue("key", AdvisoryLockKey);
            await unlock.ExecuteScalarAsync(CancellationToken.None);
        }
    }

    /// <summary>The newest schema version the referenced Hangfire.PostgreSql installs (its embedded <c>Install.vN.sql</c>).</summary>
    internal static int HangfireSchemaVersion { get; } = typeof(Hangfire.PostgreSql.PostgreSqlStorage).Assembly.GetManifestResourceNames()
        .Select(name => System.Text.RegularExpressions.Regex.Match(name, @"\.Install\.v(\d+)\.sql$"))
        .Where(match => match.Success)
        .Max(match => int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));

    // JobStorageServiceCollectionExtensions.Schema is "hangfire".
    private static async Task<bool> HangfireSchemaIsCurrentAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var exists = new NpgsqlCommand("SELECT to_regclass('hangfire.schema') IS NOT NULL", connection);
        if (!(bool)(await exists.ExecuteScalarAsync(cancellationToken))!)
        {
            return false;
        }
        await using var version = new NpgsqlCommand("SELECT coalesce(max(version), 0) FROM hangfire.schema", connection);
        return Convert.ToInt32(await version.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture) >= HangfireSchemaVersion;
    }

    // An idempotent script of db/, run on every start; what it notices (a setting it could not make) is logged.
    private async Task RunScriptAsync(NpgsqlConnection connection, string name, CancellationToken cancellationToken)
    {
        var text = await File.ReadAllTextAsync(System.IO.Path.Combine(DbDirectory.Path, name), cancellationToken);
        NoticeEventHandler log = (_, e) => logger.LogWarning("{Script}: {Notice}", name, e.Notice.MessageText);
        connection.Notice += log;
        try
        {
            await using var command = new NpgsqlCommand(text, connection);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        finally
        {
            connection.Notice -= log;
        }
    }

    private async Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await dataSource.OpenConnectionAsync(cancellationToken);
        }
        catch (NpgsqlException e) when (DatabaseTls.RefusedCertificate(e, new NpgsqlConnectionStringBuilder(dataSource.ConnectionString)) is { } refused)
        {
            throw refused;
        }
    }

    // A runtime role's CREATE or INSERT refused, however deeply DbUp or Hangfire's installer wrapped it.
    private static PostgresException? InsufficientPrivilege(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is PostgresException { SqlState: PostgresErrorCodes.InsufficientPrivilege } denied)
            {
                return denied;
            }
        }
        return null;
    }

    private DbUp.Builder.UpgradeEngineBuilder Engine() =>
        DeployChanges.To
            .PostgresqlDatabase(new PostgresqlConnectionManager(dataSource))
            .JournalToPostgresqlTable("public", JournalTable)
            .WithTransactionPerScript()
            .WithVariablesDisabled() // DbUp would otherwise rewrite $name$ inside SQL
            .WithExecutionTimeout(TimeSpan.Zero) // no statement timeout (DatabaseNetwork's 5 s): an index on a large table takes minutes
            .LogTo(logger);

    private static List<string> Run(DbUp.Builder.UpgradeEngineBuilder builder)
    {
        DatabaseUpgradeResult result = builder.Build().PerformUpgrade();
        if (!result.Successful)
        {
            throw new InvalidOperationException(
                $"Migration script '{result.ErrorScript?.Name}' failed: {result.Error?.Message}", result.Error);
        }
        return result.Scripts.Select(s => s.Name).ToList();
    }

    private async Task AcquireLockAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var tryLock = new NpgsqlCommand("SELECT pg_try_advisory_lock(@key)", connection);
        tryLock.Parameters.AddWithValue("key", AdvisoryLockKey);
        await pipelines.GetPipeline(Retries.MigrationLock).ExecuteAsync(
            static async (command, token) => (bool)(await command.ExecuteScalarAsync(token))!, tryLock, cancellationToken);
    }
}

using System.Reflection;
using System.Xml.Linq;
using Cruddur.HangfireOverrides;
using Cruddur.Shared.Data;
using Cruddur.Shared.Jobs;
using Cruddur.Tests.Fixtures;
using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace Cruddur.Tests.HangfireOverrides;

/// <summary>
/// src/HangfireOverrides copies Hangfire.PostgreSql's SQL and relies on its lock, its enlistment and Hangfire.Core's state
/// changer: an upgrade of either package fails here first, naming the files to re-check (docs/architecture.md, "Hangfire overrides").
/// </summary>
public sealed class HangfireVersionPinTests(PostgresServer server)
{
    [Fact]
    public void The_Hangfire_packages_in_use_are_the_versions_the_overrides_were_written_against()
    {
        var mismatches = new List<string>();
        Check("Hangfire.Core", typeof(BackgroundJob).Assembly, OverriddenHangfireVersions.HangfireCore, mismatches);
        Check("Hangfire.PostgreSql", typeof(PostgreSqlStorage).Assembly, OverriddenHangfireVersions.HangfirePostgreSql, mismatches);

        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches)
            + "\nRe-check these files against the new sources, then update OverriddenHangfireVersions:\n  "
            + string.Join("\n  ", OverriddenHangfireVersions.FilesToRecheck));
    }

    [Fact]
    public void The_central_package_versions_are_the_ones_the_overrides_were_written_against()
    {
        var versions = XDocument.Load(Path.Combine(Repository.Root, "Directory.Packages.props")).Descendants("PackageVersion")
            .ToDictionary(p => (string)p.Attribute("Include")!, p => (string)p.Attribute("Version")!);

        Assert.Equal(OverriddenHangfireVersions.HangfireCore, versions["Hangfire.Core"]);
        Assert.Equal(OverriddenHangfireVersions.HangfireCore, versions["Hangfire.NetCore"]);
        Assert.Equal(OverriddenHangfireVersions.HangfirePostgreSql, versions["Hangfire.PostgreSql"]);
    }

    [Fact]
    public void Every_file_to_recheck_exists_and_every_file_of_the_overrides_is_listed()
    {
        var listed = OverriddenHangfireVersions.FilesToRecheck.Select(f => f[..f.IndexOf(':', StringComparison.Ordinal)]).ToList();
        var folder = Path.Combine(Repository.Root, "src", "HangfireOverrides");
        var copies = Directory.GetFiles(folder, "*.cs")
            .Select(f => Path.GetRelativePath(Repository.Root, f).Replace('\\', '/'))
            .Where(f => !f.EndsWith("OverriddenHangfireVersions.cs", StringComparison.Ordinal)
                && !f.EndsWith("ServiceCollectionExtensions.cs", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);

        Assert.Equal(copies, listed.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_librarys_in_process_queue_signal_the_enqueue_sets_is_where_the_overrides_read_it()
    {
        // BatchingPostgreSqlStorage reads PostgreSqlJobQueue._queueEventRegistry by reflection, once.
        Assert.NotNull(BatchingPostgreSqlStorage.QueueEvents);
    }

    [Fact]
    public async Task The_librarys_statements_ignore_the_pools_command_timeout_so_TCP_keepalive_is_their_only_bound()
    {
        // Hangfire.PostgreSql's statements go through Dapper.AOT, whose generated calls set CommandTimeout = 0 (wait forever)
        // when none is given. Over a network that drops packets only TCP keepalive ends them (DatabaseNetwork.TcpKeepAliveSeconds;
        // a Worker stood still after a failover without it). If this fails, the library honors the pool's timeout again.
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var oneSecond = new NpgsqlConnectionStringBuilder(ConnectionUrl.Parse(db.Url).ConnectionString) { CommandTimeout = 1 }.ConnectionString;
        var storage = new PostgreSqlStorage(new NpgsqlConnectionFactory(oneSecond, new PostgreSqlStorageOptions()),
            JobStorageServiceCollectionExtensions.StorageOptions(new ConfigurationBuilder().Build()));
        await using var holder = await db.DataSource.OpenConnectionAsync();
        await using var locked = await holder.BeginTransactionAsync();
        await using (var take = new NpgsqlCommand("LOCK TABLE hangfire.server IN ACCESS EXCLUSIVE MODE", holder, locked))
        {
            await take.ExecuteNonQueryAsync();
        }

        var reading = Task.Run(() => storage.GetMonitoringApi().Servers());
        var endedWhileLocked = await Task.WhenAny(reading, Task.Delay(TimeSpan.FromSeconds(4))) == reading;
        await locked.RollbackAsync();

        Assert.False(endedWhileLocked, $"the library's statement ended within 4 s on a 1 s command timeout: {reading.Exception?.InnerException?.Message ?? "it answered"}");
        Assert.Empty(await reading.WaitAsync(TimeSpan.FromSeconds(10))); // and answered once the lock went
    }

    private static void Check(string package, Assembly assembly, string expected, List<string> mismatches)
    {
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
            ?? assembly.GetName().Version?.ToString(3);
        if (version != expected)
        {
            mismatches.Add($"{package} is {version}; src/HangfireOverrides was written against {expected}.");
        }
    }
}

using System.Reflection;
using Cruddur.Shared.Data;
using Cruddur.Tests.Fixtures;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Cruddur.Tests.Data;

/// <summary>Every pool's sockets give up on a host that stopped acknowledging (<see cref="NpgsqlTcpUserTimeout"/>).</summary>
public sealed class NpgsqlTcpUserTimeoutTests(PostgresServer server)
{
    [Fact]
    public void The_Npgsql_in_use_is_the_version_whose_internals_it_reads()
    {
        var version = typeof(NpgsqlConnection).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];

        Assert.True(version == NpgsqlTcpUserTimeout.NpgsqlVersion,
            $"Npgsql is {version}; src/Shared/Data/NpgsqlTcpUserTimeout.cs reads the socket of Npgsql {NpgsqlTcpUserTimeout.NpgsqlVersion}'s " +
            "NpgsqlConnection.Connector._socket: re-check it (or drop it, if Npgsql now has a Tcp User Timeout setting), then update NpgsqlVersion.");
        Assert.True(NpgsqlTcpUserTimeout.Supported, "NpgsqlConnection.Connector._socket is gone");
    }

    [Fact]
    public async Task A_connection_from_the_processs_pool_carries_the_timeout()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var services = new ServiceCollection().AddLogging().AddCruddurData(Configuration(db.Url)).BuildServiceProvider();
        await using var connection = await services.GetRequiredService<NpgsqlDataSource>().OpenConnectionAsync();

        Assert.Equal((int)NpgsqlTcpUserTimeout.Timeout.TotalMilliseconds, NpgsqlTcpUserTimeout.Read(connection));
    }

    private static IConfiguration Configuration(string url) =>
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [DataServiceCollectionExtensions.ConnectionUrlKey] = url }).Build();
}

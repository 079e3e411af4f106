using Cruddur.Shared.Data;
using Cruddur.Tests.Fixtures;
using Npgsql;

namespace Cruddur.Tests.Data;

/// <summary>Roles by purpose: the migration role owns the schemas, the Api and the Worker only read and write rows.</summary>
public class RoleTests(PostgresServer server)
{
    /// <summary>What a runtime role must never do: change the schema, in either of our schemas, or write the journal.</summary>
    public static TheoryData<string> SchemaChanges =>
    [
        "CREATE TABLE public.intruder (id int)",
        "CREATE TABLE hangfire.intruder (id int)",
        "CREATE SCHEMA intruder",
        "CREATE INDEX intruder ON public.users (email)",
        "ALTER TABLE public.users ADD COLUMN intruder int",
        "ALTER TABLE hangfire.job ADD COLUMN intruder int",
        "DROP TABLE public.activities",
        "DROP TABLE hangfire.job",
        "TRUNCATE public.activities",
        "TRUNCATE hangfire.job",
        "INSERT INTO public.schema_migrations (scriptname, applied) VALUES ('0004_skipped.sql', now())",
    ];

    [Theory]
    [MemberData(nameof(SchemaChanges))]
    public async Task The_runtime_role_is_refused_every_change_to_the_schema(string ddl)
    {
        Assert.SkipUnless(server.HasRoles, "TEST_CONNECTION_URL's server has no roles of this run");
        await using var db = await TestDatabase.CreateAsync(server, seed: true);

        var refused = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(db.Url, ddl));

        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, refused.SqlState);
        Assert.Equal(2L, await db.ScalarAsync<long>("SELECT count(*) FROM public.users"));
    }

    [Fact]
    public async Task The_runtime_role_reads_and_writes_rows_and_is_no_superuser()
    {
        Assert.SkipUnless(server.HasRoles, "TEST_CONNECTION_URL's server has no roles of this run");
        await using var db = await TestDatabase.CreateAsync(server, seed: true);

        await ExecuteAsync(db.Url, "INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES ('R', 'runtime', 'r@example.com', 'sub-r')");
        await ExecuteAsync(db.Url, "UPDATE users SET display_name = 'Runtime' WHERE handle = 'runtime'");
        await ExecuteAsync(db.Url, "DELETE FROM activities");
        var attributes = await ScalarAsync<string>(db.Url,
            "SELECT format('%s super=%s createrole=%s createdb=%s', current_user, rolsuper, rolcreaterole, rolcreatedb) FROM pg_roles WHERE rolname = current_user");

        Assert.Equal($"{PostgresServer.RuntimeRole} super=f createrole=f createdb=f", attributes);
        Assert.Equal("Runtime", await db.ScalarAsync<string>("SELECT display_name FROM users WHERE handle = 'runtime'"));
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM activities"));
        // public belongs to pg_database_owner on PostgreSQL 15+, i.e. to the database's owner, the migration role.
        Assert.Equal("migrator owns both: t, runtime owns one: f", await db.ScalarAsync<string>(
            $"SELECT format('migrator owns both: %s, runtime owns one: %s', bool_and(pg_has_role('{PostgresServer.MigrationRole}', nspowner, 'USAGE')) AND count(*) = 2, " +
            $"bool_or(pg_has_role('{PostgresServer.RuntimeRole}', nspowner, 'USAGE'))) FROM pg_namespace WHERE nspname IN ('public', 'hangfire')"));
        Assert.Equal(PostgresServer.MigrationRole, await db.ScalarAsync<string>(
            "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname IN ('public', 'hangfire')"));
    }

    [Fact]
    public async Task A_worker_with_only_a_runtime_role_on_an_empty_database_does_not_start_and_names_the_migration_setting()
    {
        Assert.SkipUnless(server.HasRoles, "TEST_CONNECTION_URL's server has no roles of this run");
        await using var db = await TestDatabase.CreateAsync(server, migrate: false);
        await using var worker = ServiceProcess.Start(Repository.WorkerDll, new Dictionary<string, string?> { ["CONNECTION_URL"] = db.Url });

        var exitCode = await worker.WaitForExitAsync(TimeSpan.FromSeconds(90));

        Assert.True(exitCode == 1, worker.Output);
        Assert.Contains("MIGRATION_CONNECTION_URL", worker.Output, StringComparison.Ordinal);
        Assert.Contains($"'{PostgresServer.RuntimeRole}' may not change the schema", worker.Output, StringComparison.Ordinal);
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM pg_tables WHERE schemaname IN ('public', 'hangfire')"));
    }

    [Fact]
    public async Task Bin_db_roles_hands_a_database_migrated_as_the_administrator_to_the_migration_role_and_runs_again_harmlessly()
    {
        Assert.SkipUnless(server.HasRoles, "TEST_CONNECTION_URL's server has no roles of this run");
        // Today's deployment: everything done as the administrator (RDS's master user).
        var admin = server.UrlForNewDatabase("roles");
        Assert.Equal(0, (await Repository.RunScriptAsync("db-setup", [], new Dictionary<string, string?> { ["CONNECTION_URL"] = admin })).ExitCode);
        var passwords = new Dictionary<string, string?>
        {
            ["CONNECTION_URL"] = admin,
            ["DB_MIGRATOR_PASSWORD"] = PostgresServer.Password, // the fixture's own migration role has this one
            ["DB_API_PASSWORD"] = "api-" + PostgresServer.Password,
            ["DB_WORKER_PASSWORD"] = "worker-" + PostgresServer.Password,
        };

        var first = await Repository.RunScriptAsync("db-roles", [], passwords);
        var again = await Repository.RunScriptAsync("db-roles", [], passwords);
        var migrate = await Repository.RunScriptAsync("db-schema-load", [], new Dictionary<string, string?>
        {
            ["CONNECTION_URL"] = admin,
            ["MIGRATION_CONNECTION_URL"] = As(admin, PostgresServer.MigrationRole, PostgresServer.Password),
        });

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.True(migrate.ExitCode == 0, migrate.ToString());
        Assert.Equal(PostgresServer.MigrationRole, await ScalarAsync<string>(admin,
            "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname IN ('public', 'hangfire')"));
        foreach (var (role, password) in new[] { ("cruddur_api", "api-"), ("cruddur_worker", "worker-") })
        {
            var url = As(admin, role, password + PostgresServer.Password);
            Assert.Equal(2L, await ScalarAsync<long>(url, "SELECT count(*) FROM users"));
            await ExecuteAsync(url, "UPDATE hangfire.server SET lastheartbeat = lastheartbeat");
            var refused = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(url, "DROP TABLE public.activities"));
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, refused.SqlState);
        }
    }

    [Fact]
    public async Task Bin_db_setup_with_the_migration_roles_URL_set_resets_the_database_as_the_migration_roles()
    {
        Assert.SkipUnless(server.HasRoles, "TEST_CONNECTION_URL's server has no roles of this run");
        // A developer with roles: the administrator's CONNECTION_URL and the migration role's URL, as bin/up sets them.
        var admin = server.UrlForNewDatabase("setuproles");
        var urls = new Dictionary<string, string?>
        {
            ["CONNECTION_URL"] = admin,
            ["MIGRATION_CONNECTION_URL"] = As(admin, PostgresServer.MigrationRole, PostgresServer.Password),
        };

        var setup = await Repository.RunScriptAsync("db-setup", [], urls);

        Assert.True(setup.ExitCode == 0, setup.ToString());
        Assert.Equal(PostgresServer.MigrationRole, await ScalarAsync<string>(admin,
            "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname IN ('public', 'hangfire')"));
        Assert.Equal(2L, await ScalarAsync<long>(admin, "SELECT count(*) FROM users"));
    }

    [Fact]
    public async Task Bin_db_roles_sets_passwords_that_work_without_the_password_reaching_a_statement_the_server_logs()
    {
        Assert.SkipUnless(server.HasRoles, "TEST_CONNECTION_URL's server has no roles of this run");
        var admin = server.UrlForNewDatabase("rolesscram");
        Assert.Equal(0, (await Repository.RunScriptAsync("db-create", [], new Dictionary<string, string?> { ["CONNECTION_URL"] = admin })).ExitCode);
        // An RDS parameter group that audits DDL.
        await ExecuteAsync(admin, $"ALTER DATABASE \"{ConnectionUrl.Parse(admin).Database}\" SET log_statement = 'ddl'");
        var password = "api-" + PostgresServer.Password; // the value the test above sets: other tests may be using the role

        var result = await Repository.RunScriptAsync("db-roles", [], new Dictionary<string, string?>
        {
            ["CONNECTION_URL"] = admin,
            ["DB_API_PASSWORD"] = password,
        });

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(1, await ScalarAsync<int>(As(admin, "cruddur_api", password), "SELECT 1"));
        Assert.Contains("ALTER ROLE cruddur_api PASSWORD 'SCRAM-SHA-256$4096:", server.LogTail(1_000_000), StringComparison.Ordinal);
        Assert.DoesNotContain(password, server.LogTail(1_000_000), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bin_db_roles_with_iam_grants_the_three_roles_rds_iam()
    {
        Assert.SkipUnless(server.HasRoles, "TEST_CONNECTION_URL's server has no roles of this run");
        var admin = server.UrlForNewDatabase("rolesiam");
        Assert.Equal(0, (await Repository.RunScriptAsync("db-create", [], new Dictionary<string, string?> { ["CONNECTION_URL"] = admin })).ExitCode);
        // RDS's own role, which RDS makes; a stand-in here.
        await ExecuteAsync(admin, "DO $$ BEGIN IF to_regrole('rds_iam') IS NULL THEN CREATE ROLE rds_iam; END IF; END $$");

        var result = await Repository.RunScriptAsync("db-roles", ["--iam"], new Dictionary<string, string?> { ["CONNECTION_URL"] = admin });

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("cruddur_api,cruddur_migrator,cruddur_worker", await ScalarAsync<string>(admin,
            "SELECT string_agg(member::regrole::text, ',' ORDER BY member::regrole::text) FROM pg_auth_members WHERE roleid = 'rds_iam'::regrole"));
    }

    private static string As(string url, string user, string password) =>
        $"postgresql://{user}:{Uri.EscapeDataString(password)}@{url[(url.LastIndexOf('@') + 1)..]}";

    private static async Task ExecuteAsync(string url, string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionUrl.Parse(url).ConnectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<T> ScalarAsync<T>(string url, string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionUrl.Parse(url).ConnectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }
}

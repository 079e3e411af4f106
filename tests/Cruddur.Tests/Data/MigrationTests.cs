using Cruddur.Shared.Data;
using Cruddur.Tests.Fixtures;
using Npgsql;

namespace Cruddur.Tests.Data;

public class MigrationTests(PostgresServer server)
{
    [Fact]
    public async Task Migrating_an_empty_database_creates_the_schema_and_journals_each_script()
    {
        await using var db = await TestDatabase.CreateAsync(server, migrate: false);

        var report = await db.Migrator().MigrateAsync(seed: false);

        Assert.Contains(report.AppliedMigrations, name => name.Contains("0001_create_users_and_activities", StringComparison.Ordinal));
        Assert.Equal(2L, await db.ScalarAsync<long>(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN ('users', 'activities')"));
        Assert.Equal((long)report.AppliedMigrations.Count, await db.ScalarAsync<long>($"SELECT count(*) FROM public.{DatabaseMigrator.JournalTable}"));
    }

    [Fact]
    public async Task Migrating_twice_applies_nothing_the_second_time_and_keeps_the_data()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await db.ExecuteAsync("INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES ('K', 'kept', 'k@example.com', 'sub-kept')");

        var second = await db.Migrator().MigrateAsync(seed: true);

        Assert.Empty(second.AppliedMigrations);
        Assert.False(second.SeedApplied);
        Assert.Equal(3L, await db.ScalarAsync<long>("SELECT count(*) FROM users"));
    }

    [Fact]
    public async Task Three_migrators_started_together_apply_each_script_exactly_once()
    {
        await using var db = await TestDatabase.CreateAsync(server, migrate: false);
        var migrators = Enumerable.Range(0, 3).Select(_ => db.Migrator()).ToList();

        var reports = await Task.WhenAll(migrators.Select(m => Task.Run(() => m.MigrateAsync(seed: true))));

        Assert.Single(reports, r => r.AppliedMigrations.Count > 0);
        Assert.Single(reports, r => r.SeedApplied);
        Assert.Equal(2L, await db.ScalarAsync<long>("SELECT count(*) FROM users"));
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM activities"));
        Assert.Equal(0L, await db.ScalarAsync<long>(
            $"SELECT count(*) FROM (SELECT scriptname FROM public.{DatabaseMigrator.JournalTable} GROUP BY scriptname HAVING count(*) > 1) d"));
    }

    [Fact]
    public async Task The_schema_enforces_unique_handles_and_cognito_ids_and_known_users()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);

        var handle = await Assert.ThrowsAsync<PostgresException>(() => db.ExecuteAsync(
            "INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES ('X', 'andrewbrown', 'x@example.com', 'sub-x')"));
        var cognito = await Assert.ThrowsAsync<PostgresException>(() => db.ExecuteAsync(
            "INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES ('X', 'x', 'x@example.com', 'MOCK-bayko')"));
        var orphan = await Assert.ThrowsAsync<PostgresException>(() => db.ExecuteAsync(
            "INSERT INTO activities (user_uuid, message) VALUES (gen_random_uuid(), 'nobody wrote this')"));

        Assert.Equal((PostgresErrorCodes.UniqueViolation, "users_handle_key"), (handle.SqlState, handle.ConstraintName));
        Assert.Equal((PostgresErrorCodes.UniqueViolation, "users_cognito_user_id_key"), (cognito.SqlState, cognito.ConstraintName));
        Assert.Equal(PostgresErrorCodes.ForeignKeyViolation, orphan.SqlState);
    }

    [Fact]
    public async Task Timestamps_carry_a_time_zone_and_replies_point_at_uuids()
    {
        await using var db = await TestDatabase.CreateAsync(server);

        var types = await db.ScalarAsync<string>("""
            SELECT string_agg(table_name || '.' || column_name || ':' || data_type, ',' ORDER BY table_name, column_name)
            FROM information_schema.columns
            WHERE table_schema = 'public' AND table_name IN ('activities', 'users')
              AND column_name IN ('created_at', 'expires_at', 'reply_to_activity_uuid')
            """);

        Assert.Equal(
            "activities.created_at:timestamp with time zone,activities.expires_at:timestamp with time zone," +
            "activities.reply_to_activity_uuid:uuid,users.created_at:timestamp with time zone", types);
    }

    [Fact]
    public async Task The_seed_run_twice_leaves_the_same_two_users_with_emails_and_one_activity()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        var seed = await File.ReadAllTextAsync(Path.Combine(DbDirectory.Path, "seed.sql"));

        await db.ExecuteAsync(seed);
        var first = await db.ScalarAsync<string>("SELECT string_agg(handle || ':' || email, ',' ORDER BY handle) FROM users");
        await db.ExecuteAsync(seed);

        Assert.Equal("andrewbrown:andrew@example.com,bayko:bayko@example.com", first);
        Assert.Equal(first, await db.ScalarAsync<string>("SELECT string_agg(handle || ':' || email, ',' ORDER BY handle) FROM users"));
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM activities"));
    }
}

using System.Text.Json;
using Cruddur.Shared.Data;
using Cruddur.Tests.Fixtures;
using Npgsql;

namespace Cruddur.Tests.Data;

public class DbTemplateTests(PostgresServer server)
{
    [Fact]
    public async Task A_message_full_of_quotes_and_sql_is_stored_verbatim()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        const string message = "'); DROP TABLE activities; -- \"quoted\" $$dollar$$ \\ @handle :name";
        var uuid = Guid.CreateVersion7();

        await db.Db.QueryCommitRowsAsync(db.Db.Template("activities", "create_batch"), CreateParameters(uuid, Bayko, message), row => row.GetString(1));
        var json = await db.Db.QueryObjectJsonAsync(db.Db.Template("activities", "object"), new SqlParameters { ["uuid"] = uuid });

        Assert.Equal(message, JsonDocument.Parse(json!).RootElement.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Object_json_has_the_object_sql_shape()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var seeded = Guid.Parse("00000000-0000-4000-8000-0000000000a1");

        var json = await db.Db.QueryObjectJsonAsync(db.Db.Template("activities", "object"), new SqlParameters { ["uuid"] = seeded });

        var root = JsonDocument.Parse(json!).RootElement;
        Assert.Equal(["uuid", "display_name", "handle", "message", "created_at", "expires_at"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal("Andrew Brown", root.GetProperty("display_name").GetString());
        Assert.Equal(seeded, root.GetProperty("uuid").GetGuid());
    }

    [Fact]
    public async Task Object_json_of_nothing_is_null_rather_than_an_empty_object()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);

        var json = await db.Db.QueryObjectJsonAsync(db.Db.Template("activities", "object"), new SqlParameters { ["uuid"] = Guid.NewGuid() });

        Assert.Null(json);
    }

    [Fact]
    public async Task A_row_read_is_typed_and_no_row_is_null()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        var template = db.Db.Template("users", "object");
        static (string Handle, string DisplayName) Read(NpgsqlDataReader row) =>
            (row.GetString(row.GetOrdinal("handle")), row.GetString(row.GetOrdinal("display_name")));

        var found = await db.Db.QueryRowAsync(template, new SqlParameters { ["handle"] = "andrewbrown" }, Read);
        var missing = await db.Db.QueryRowAsync<(string, string)?>(template, new SqlParameters { ["handle"] = "nobody" }, row => Read(row));

        Assert.Equal(("andrewbrown", "Andrew Brown"), found);
        Assert.Null(missing);
    }

    [Fact]
    public async Task Array_json_is_newest_first_with_the_home_sql_shape_and_leaves_out_expired_activities()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await db.ExecuteAsync("""
            INSERT INTO activities (user_uuid, message, expires_at, created_at)
            SELECT uuid, 'older', now() + interval '1 day', now() - interval '1 hour' FROM users WHERE handle = 'bayko';
            INSERT INTO activities (user_uuid, message, expires_at, created_at)
            SELECT uuid, 'expired', now() - interval '1 minute', now() FROM users WHERE handle = 'bayko';
            """);

        var json = (await db.Db.QueryPageJsonAsync(db.Db.Template("activities", "home"), HomePage(limit: 20))).Json;

        var rows = JsonDocument.Parse(json).RootElement.EnumerateArray().ToList();
        Assert.Equal(["This was imported as seed data!", "older"], rows.Select(r => r.GetProperty("message").GetString()));
        Assert.Equal(
            ["uuid", "display_name", "handle", "message", "replies_count", "reposts_count", "likes_count", "reply_to_activity_uuid", "expires_at", "created_at"],
            rows[0].EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task A_page_of_nothing_is_an_empty_array_with_no_cursor()
    {
        await using var db = await TestDatabase.CreateAsync(server);

        var page = await db.Db.QueryPageJsonAsync(db.Db.Template("activities", "home"), HomePage(limit: 20));

        Assert.Equal(("[]", 0, (DateTimeOffset?)null, (Guid?)null), (page.Json, page.Count, page.LastCreatedAt, page.LastUuid));
    }

    [Fact]
    public async Task The_home_page_after_a_cursor_continues_where_the_previous_page_ended()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await InsertPostsAsync(db, 25);

        var page = await db.Db.QueryPageJsonAsync(db.Db.Template("activities", "home"), HomePage(limit: 10));
        var first = JsonDocument.Parse(page.Json).RootElement;
        var last = first[9];
        // The key Postgres returns beside the JSON is the JSON's last row's.
        Assert.Equal(10, page.Count);
        Assert.Equal(last.GetProperty("created_at").GetDateTimeOffset(), page.LastCreatedAt);
        Assert.Equal(last.GetProperty("uuid").GetGuid(), page.LastUuid);
        var second = await db.Db.QueryPageJsonAsync(db.Db.Template("activities", "home"), HomePage(limit: 100, page.LastCreatedAt, page.LastUuid));

        var all = first.EnumerateArray().Concat(JsonDocument.Parse(second.Json).RootElement.EnumerateArray())
            .Select(r => r.GetProperty("uuid").GetGuid()).ToList();
        Assert.Equal(26, all.Count);
        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.Equal(16, second.Count);
    }

    [Fact]
    public async Task An_empty_page_has_no_key()
    {
        await using var db = await TestDatabase.CreateAsync(server);

        var page = await db.Db.QueryPageJsonAsync(db.Db.Template("activities", "home"), HomePage(limit: 20));

        Assert.Equal(new JsonPage("[]", 0, null, null), page);
    }

    [Fact]
    public async Task The_json_reads_refuse_a_write_so_the_read_pool_holds_no_session_state_to_reset()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);

        // The read pool skips Npgsql's reset on close: that is safe only because its statements cannot write.
        var error = await Assert.ThrowsAsync<PostgresException>(() => db.Db.QueryObjectJsonAsync(
            db.Db.Template("users", "upsert"),
            new SqlParameters { ["display_name"] = "Read", ["handle"] = "through_a_read", ["email"] = "read@example.com", ["cognito_user_id"] = "read" }));

        Assert.Equal(PostgresErrorCodes.SyntaxError, error.SqlState);
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM users WHERE handle = 'through_a_read'"));
        // And its generic plans are kept (the feed's LIMIT parameter would otherwise have it planned per call).
        var mode = await db.Db.QueryObjectJsonAsync(new SqlTemplate("setting", "SELECT current_setting('plan_cache_mode') AS mode"));
        Assert.Equal("""{"mode":"force_generic_plan"}""", mode);
    }

    [Fact]
    public async Task The_read_pools_generic_plan_of_the_home_page_is_the_index_scan_even_after_most_rows_were_deleted()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        // A bloated index (as after a purge of expired activities) once made the generic plan a sort of the whole table.
        await InsertPostsAsync(db, 100_000);
        await db.ExecuteAsync("DELETE FROM activities WHERE message LIKE 'post %' AND created_at < now() - interval '2000 seconds'");
        await db.ExecuteAsync("VACUUM ANALYZE activities");
        var home = db.Db.Template("activities", "home").Text
            .Replace("@before_created_at", "$1", StringComparison.Ordinal).Replace("@before_uuid", "$2", StringComparison.Ordinal)
            .Replace("@limit", "$3", StringComparison.Ordinal);

        await using var connection = await db.Reads.OpenConnectionAsync(); // plan_cache_mode=force_generic_plan
        await using (var prepare = new NpgsqlCommand($"PREPARE feed (timestamptz, uuid, int) AS {home}", connection))
        {
            await prepare.ExecuteNonQueryAsync();
        }
        await using var explain = new NpgsqlCommand("EXPLAIN EXECUTE feed (NULL, NULL, 20)", connection);
        await using var reader = await explain.ExecuteReaderAsync();
        var plan = new List<string>();
        while (await reader.ReadAsync())
        {
            plan.Add(reader.GetString(0));
        }

        Assert.Contains(plan, line => line.Contains("Index Scan Backward using activities_feed_idx", StringComparison.Ordinal));
        Assert.DoesNotContain(plan, line => line.Contains("Sort", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_missing_template_names_the_file()
    {
        await using var db = await TestDatabase.CreateAsync(server, migrate: false);

        var error = Assert.Throws<FileNotFoundException>(() => db.Db.Template("activities", "nope"));

        Assert.Contains("activities/nope", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Users_upsert_makes_one_user_per_cognito_id_and_updates_the_email()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        var upsert = db.Db.Template("users", "upsert");
        SqlParameters User(string email) => new()
        {
            ["display_name"] = "Ann Lee",
            ["handle"] = "annlee",
            ["email"] = email,
            ["cognito_user_id"] = "sub-ann",
        };

        var first = await db.Db.QueryCommitAsync<Guid>(upsert, User("ann@example.com"));
        var second = await db.Db.QueryCommitAsync<Guid>(upsert, User("ann@new.example.com"));

        Assert.Equal(first, second);
        Assert.Equal("ann@new.example.com", await db.ScalarAsync<string>("SELECT string_agg(email, ',') FROM users"));
    }

    // The seed's users.uuid of @bayko.
    private static readonly Guid Bayko = Guid.Parse("00000000-0000-4000-8000-000000000002");

    /// <summary>create_batch.sql's parallel arrays for one activity.</summary>
    private static SqlParameters CreateParameters(Guid uuid, Guid userUuid, string message) => new()
    {
        ["uuids"] = new[] { uuid },
        ["user_uuids"] = new[] { userUuid },
        ["messages"] = new[] { message },
        ["expires_at"] = new[] { DateTimeOffset.UtcNow.AddDays(1) },
        ["created_at"] = new[] { DateTimeOffset.UtcNow },
    };

    /// <summary>Posts by bayko, "post 1" newest, one second apart.</summary>
    private static Task<int> InsertPostsAsync(TestDatabase db, int count) => db.ExecuteAsync($"""
        INSERT INTO activities (user_uuid, message, expires_at, created_at)
        SELECT u.uuid, 'post ' || i, now() + interval '1 day', now() - i * interval '1 second'
        FROM users u, generate_series(1, {count}) i WHERE u.handle = 'bayko'
        """);

    private static SqlParameters HomePage(int limit, DateTimeOffset? beforeCreatedAt = null, Guid? beforeUuid = null) => new()
    {
        ["limit"] = limit,
        ["before_created_at"] = beforeCreatedAt?.ToUniversalTime(),
        ["before_uuid"] = beforeUuid,
    };
}

using Npgsql;

namespace Cruddur.Bench.Baseline;

/// <summary>The baseline's job: the same single-row insert as <c>db/sql/activities/create.sql</c>.</summary>
public static class StoreActivity
{
    public static NpgsqlDataSource DataSource { get; set; } = null!;

    public static async Task Run(Guid uuid, string handle, string message)
    {
        await using var command = DataSource.CreateCommand("""
            INSERT INTO public.activities (uuid, user_uuid, message, expires_at)
            VALUES (@uuid, (SELECT uuid FROM public.users WHERE handle = @handle), @message, now() + interval '1 day')
            ON CONFLICT (uuid) DO NOTHING
            """);
        command.Parameters.AddWithValue("uuid", uuid);
        command.Parameters.AddWithValue("handle", handle);
        command.Parameters.AddWithValue("message", message);
        await command.ExecuteNonQueryAsync();
    }
}

/// <summary>What the baseline reads from Postgres to count its cost.</summary>
internal static class Counters
{
    public sealed record Snapshot(long Xid);

    /// <summary>The next transaction id: its delta counts the transactions that wrote (read-only ones take none).</summary>
    public static async Task<Snapshot> ReadAsync(NpgsqlDataSource db)
    {
        await using var command = db.CreateCommand("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint");
        return new Snapshot((long)(await command.ExecuteScalarAsync())!);
    }

    public static async Task<long> ActivitiesAsync(NpgsqlDataSource db)
    {
        await using var command = db.CreateCommand("SELECT count(*) FROM public.activities");
        return (long)(await command.ExecuteScalarAsync())!;
    }

    public static async Task<List<string>> HandlesAsync(NpgsqlDataSource db)
    {
        await using var command = db.CreateCommand("SELECT handle FROM public.users ORDER BY handle");
        await using var reader = await command.ExecuteReaderAsync();
        var handles = new List<string>();
        while (await reader.ReadAsync())
        {
            handles.Add(reader.GetString(0));
        }
        return handles;
    }
}

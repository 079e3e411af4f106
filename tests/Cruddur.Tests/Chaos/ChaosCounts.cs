using Cruddur.Tests.Fixtures;

namespace Cruddur.Tests.Chaos;

/// <summary>
/// What a scenario promised and what it kept: posts sent, acknowledged (202), stored, stored twice, and
/// acknowledged but never stored. Printed to the test output and appended to <c>CHAOS_COUNTS_FILE</c> (bin/chaos).
/// </summary>
public sealed record ChaosCounts(string Scenario, long Sent, long Acknowledged, long Stored, long Duplicates, long Lost, string Notes = "")
{
    public override string ToString() =>
        $"{Scenario}: sent {Sent}, acknowledged {Acknowledged}, stored {Stored}, duplicates {Duplicates}, lost {Lost}{(Notes.Length > 0 ? $"; {Notes}" : "")}";

    public ChaosCounts Report()
    {
        TestContext.Current.TestOutputHelper?.WriteLine(ToString());
        return Save();
    }

    /// <summary>Appends the line to <c>CHAOS_COUNTS_FILE</c> when it is set.</summary>
    public ChaosCounts Save()
    {
        var line = ToString();
        if (Environment.GetEnvironmentVariable("CHAOS_COUNTS_FILE") is { Length: > 0 } file)
        {
            lock (typeof(ChaosCounts))
            {
                File.AppendAllText(file, line + Environment.NewLine);
            }
        }
        return this;
    }

    /// <summary>
    /// Waits until every acknowledged post of <paramref name="load"/> is stored (or <paramref name="timeout"/>
    /// passes), then counts rows by message: a message stored twice is a duplicate, whatever its uuid.
    /// </summary>
    public static async Task<ChaosCounts> SettleAsync(TestDatabase db, ActivityLoad load, string scenario, TimeSpan timeout, string notes = "")
    {
        var deadline = DateTime.UtcNow + timeout;
        var promised = load.Accepted.Values.ToHashSet();
        HashSet<Guid> stored;
        List<(string Message, long Count)> rows;
        while (true)
        {
            (stored, rows) = await ReadAsync(db, load.Tag);
            if (promised.IsSubsetOf(stored) || DateTime.UtcNow > deadline)
            {
                break;
            }
            await Task.Delay(250);
        }
        return new ChaosCounts(
            scenario, load.Sent, load.Accepted.Count, rows.Sum(r => r.Count), rows.Sum(r => r.Count - 1),
            promised.Count(uuid => !stored.Contains(uuid)), notes);
    }

    private static async Task<(HashSet<Guid> Uuids, List<(string, long)> Rows)> ReadAsync(TestDatabase db, string tag)
    {
        var uuids = new HashSet<Guid>();
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var command = db.DataSource.CreateCommand("SELECT uuid, message FROM public.activities WHERE starts_with(message, @tag)");
        command.Parameters.AddWithValue("tag", tag + " #");
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            uuids.Add(reader.GetGuid(0));
            var message = reader.GetString(1);
            counts[message] = counts.GetValueOrDefault(message) + 1;
        }
        return (uuids, counts.Select(c => (c.Key, c.Value)).ToList());
    }
}

/// <summary>Settings every chaos scenario shares: a crashed Worker's jobs come back after 15 s, not 2 minutes.</summary>
public static class ChaosSettings
{
    /// <summary>
    /// The load scenarios run one after another: on two cores, several at once starve each other's Workers and
    /// measure the machine, not the code.
    /// </summary>
    public const string Serial = "chaos, one at a time";

    /// <summary>Posts per load scenario: <c>CHAOS_POSTS</c>, default 20,000 (issue 9: "20,000 posts in flight").</summary>
    public static int Posts { get; } = int.TryParse(Environment.GetEnvironmentVariable("CHAOS_POSTS"), out var posts) && posts > 0 ? posts : 20_000;

    public static Dictionary<string, string?> Worker() => new()
    {
        ["HANGFIRE_INVISIBILITY_TIMEOUT_SECONDS"] = "15",
        ["HANGFIRE_SCHEDULE_POLL_SECONDS"] = "1",
        ["HANGFIRE_QUEUE_POLL_MS"] = "100",
        ["WORKER_COUNT"] = "4",
    };

    public static Dictionary<string, string?> Api() => new()
    {
        ["HANGFIRE_INVISIBILITY_TIMEOUT_SECONDS"] = "15",
    };
}

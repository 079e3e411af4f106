using System.Globalization;
using Hangfire.Common;
using Hangfire.States;
using Npgsql;
using NpgsqlTypes;

namespace Cruddur.HangfireOverrides;

/// <summary>
/// Open jobs: a batch job that takes more items after it is committed, and reaches its queue later. A caller that must
/// answer each item once it is durable, but wants few jobs, commits each group of items at once (the job opened, or its
/// array argument appended to) and enqueues the job when it has waited long enough for company
/// (<see cref="CloseOpenJob"/>). An open job is an Enqueued job with an expiry and no queue row: no Worker can fetch it
/// until it is closed, when its expiry goes and its queue row comes, in one statement. (A job the library enqueues has no
/// expiry: PersistJob; a finished one has an expiry and another state.)
/// Appending to a closed job changes nothing and says so, so a job fetched by a Worker never changes under it.
/// A process that dies with a job open leaves it to <see cref="CloseAbandonedOpenJobsAsync"/>.
/// </summary>
public sealed partial class BatchingPostgreSqlStorage
{
    // Long enough that no open job is lost to the expiration manager while Workers are down; CloseAbandonedOpenJobs
    // closes one long before.
    private static readonly TimeSpan OpenJobExpiry = TimeSpan.FromDays(30);

    // Opens a job: the job with its Enqueued state, as _insertEnqueuedJob, with an expiry and without its queue row; and
    // closes the caller's previous open job ($8, or null) in the same statement. The expiry is on the server's clock, so
    // that an open job's age is too (_closeAbandonedOpenJobs): the Api's and the Worker's clocks may differ.
    private readonly string _openJob = $"""
        WITH "j" AS (
            INSERT INTO "{options.SchemaName}"."job" ("stateid", "statename", "invocationdata", "arguments", "createdat", "expireat")
            VALUES (nextval(pg_get_serial_sequence('"{options.SchemaName}"."state"', 'id')), $5, $1::jsonb, $2::jsonb, $3, now() + $7::interval)
            RETURNING "id", "stateid"
        ), "s" AS (
            INSERT INTO "{options.SchemaName}"."state" ("id", "jobid", "name", "createdat", "data")
            SELECT "stateid", "id", $5, $3, $4::jsonb FROM "j"
        ), "c" AS (
            UPDATE "{options.SchemaName}"."job" SET "expireat" = NULL WHERE "id" = $8 AND "statename" = 'Enqueued' AND "expireat" IS NOT NULL RETURNING "id"
        ), "q" AS (
            INSERT INTO "{options.SchemaName}"."jobqueue" ("jobid", "queue") SELECT "id", $6 FROM "c" RETURNING "jobid"
        )
        SELECT "j"."id", (SELECT pg_notify('{NewJobChannel}', $6) FROM "q") FROM "j"
        """;

    // Appends the items of $2 to argument $3, while the job is open. Both are a string argument as Hangfire serializes one
    // (a JSON string literal, "[...]") whose value is a JSON array: the old one's last two characters and the new one's
    // first two go, and a comma joins them.
    private readonly string _appendToOpenJob = $"""
        UPDATE "{options.SchemaName}"."job"
        SET "arguments" = jsonb_set("arguments", ARRAY[$3::text], to_jsonb(left("arguments" ->> $3, -2) || ',' || substr($2, 3)))
        WHERE "id" = $1 AND "statename" = 'Enqueued' AND "expireat" IS NOT NULL
        """;

    private readonly string _closeOpenJob = $"""
        WITH "c" AS (
            UPDATE "{options.SchemaName}"."job" SET "expireat" = NULL WHERE "id" = $1 AND "statename" = 'Enqueued' AND "expireat" IS NOT NULL RETURNING "id"
        ), "q" AS (
            INSERT INTO "{options.SchemaName}"."jobqueue" ("jobid", "queue") SELECT "id", $2 FROM "c" RETURNING "jobid"
        )
        SELECT pg_notify('{NewJobChannel}', $2) FROM "q"
        """;

    // Open jobs opened more than $2 ago by the server's clock (their expiry, $1 after their opening, is nearer than $1 - $2),
    // with their queue (the job's own, in its invocation data), closed.
    private readonly string _closeAbandonedOpenJobs = $"""
        WITH "c" AS (
            UPDATE "{options.SchemaName}"."job" SET "expireat" = NULL
            WHERE "statename" = 'Enqueued' AND "expireat" IS NOT NULL AND "expireat" < now() + $1::interval - $2::interval
              AND NOT EXISTS (SELECT 1 FROM "{options.SchemaName}"."jobqueue" WHERE "jobid" = "job"."id")
            RETURNING "id", COALESCE("invocationdata" ->> 'Queue', 'default') AS "queue"
        ), "q" AS (
            INSERT INTO "{options.SchemaName}"."jobqueue" ("jobid", "queue") SELECT "id", "queue" FROM "c" RETURNING "jobid", "queue"
        )
        SELECT count(*) FROM (SELECT pg_notify('{NewJobChannel}', "queue") FROM "q") "n"
        """;

    /// <summary>
    /// Commits <paramref name="job"/> open on <paramref name="queue"/>, and closes <paramref name="previous"/> (an open
    /// job of the caller's, or null) in the same statement. Returns the new job's id once it is committed.
    /// </summary>
    public string OpenJob(Job job, string queue, string? previous)
    {
        ArgumentNullException.ThrowIfNull(job);
        var (invocation, arguments) = Serialize(job);
        var state = new EnqueuedState(queue);
        var now = DateTime.UtcNow;
        long id;
        using (var connection = OpenConnection())
        using (var open = new NpgsqlCommand(_openJob, connection))
        {
            open.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = invocation });
            open.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = arguments });
            open.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = now });
            open.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = SerializationHelper.Serialize(state.SerializeData()) });
            open.Parameters.Add(new NpgsqlParameter<string> { TypedValue = state.Name });
            open.Parameters.Add(new NpgsqlParameter<string> { TypedValue = queue });
            open.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = OpenJobExpiry });
            open.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Bigint, Value = previous is null ? DBNull.Value : long.Parse(previous, CultureInfo.InvariantCulture) });
            id = (long)open.ExecuteScalar()!;
        }
        if (previous is not null)
        {
            QueueEvents.Set(queue);
        }
        return id.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Appends the items of the JSON array <paramref name="jsonArray"/> to the JSON array that the string argument
    /// <paramref name="argument"/> of the open job <paramref name="jobId"/> holds; false, and nothing changed, if the job is
    /// not open any more.
    /// </summary>
    public bool AppendToOpenJob(string jobId, int argument, string jsonArray)
    {
        ArgumentNullException.ThrowIfNull(jsonArray);
        // The argument as the job's serialization writes a string (SerializationOption.User): a JSON string literal.
        var serialized = SerializationHelper.Serialize<string>(jsonArray, SerializationOption.User);
        using var connection = OpenConnection();
        using var append = new NpgsqlCommand(_appendToOpenJob, connection);
        append.Parameters.Add(new NpgsqlParameter<long> { TypedValue = long.Parse(jobId, CultureInfo.InvariantCulture) });
        append.Parameters.Add(new NpgsqlParameter<string> { TypedValue = serialized });
        append.Parameters.Add(new NpgsqlParameter<int> { TypedValue = argument });
        return append.ExecuteNonQuery() == 1;
    }

    /// <summary>Puts the open job <paramref name="jobId"/> on <paramref name="queue"/>; nothing if it is closed already.</summary>
    public void CloseOpenJob(string jobId, string queue)
    {
        using (var connection = OpenConnection())
        using (var close = new NpgsqlCommand(_closeOpenJob, connection))
        {
            close.Parameters.Add(new NpgsqlParameter<long> { TypedValue = long.Parse(jobId, CultureInfo.InvariantCulture) });
            close.Parameters.Add(new NpgsqlParameter<string> { TypedValue = queue });
            close.ExecuteNonQuery();
        }
        QueueEvents.Set(queue);
    }

    /// <summary>
    /// Closes every job open for longer than <paramref name="openFor"/> by the database server's clock: those of a process
    /// that died with a job open. Returns how many.
    /// </summary>
    public async Task<long> CloseAbandonedOpenJobsAsync(TimeSpan openFor, CancellationToken cancellationToken)
    {
        var connection = _connections.GetOrCreateConnection();
        await using (connection)
        {
            if (connection.State != System.Data.ConnectionState.Open)
            {
                await connection.OpenAsync(cancellationToken);
            }
            await using var close = new NpgsqlCommand(_closeAbandonedOpenJobs, connection);
            close.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = OpenJobExpiry });
            close.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = openFor });
            return (long)(await close.ExecuteScalarAsync(cancellationToken))!;
        }
    }
}

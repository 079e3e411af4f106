using System.Globalization;
using System.Transactions;
using Hangfire.Common;
using Hangfire.PostgreSql;
using Hangfire.States;
using Hangfire.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Cruddur.Shared.Jobs;

/// <summary>
/// Hangfire.PostgreSql's storage (1.21.1), except in how a new job's rows are written; the rows themselves stay what
/// the library reads, and a job the library wrote reads here as before (docs/performance.md):
/// <list type="bullet">
/// <item>a job's arguments are written once. The library writes them into <c>job.arguments</c> and again inside
/// <c>job.invocationdata</c>, escaped one level deeper (21.7 kB of a 22 kB <c>invocationdata</c> for 64 posts), though
/// every reader of the library (<c>GetJobData</c>, the dashboard's monitoring API) replaces that copy with
/// <c>job.arguments</c> ("Arguments written once");</item>
/// <item><see cref="CreateEnqueuedJob"/> writes an enqueued job, its Enqueued state and its queue row in one
/// statement: one round trip and one commit, where the library's client takes six round trips in a transaction
/// ("One statement per job").</item>
/// </list>
/// </summary>
internal sealed class LeanPostgreSqlStorage(IConnectionFactory connections, PostgreSqlStorageOptions options)
    : PostgreSqlStorage(connections, options)
{
    private readonly IConnectionFactory _connections = connections;

    private readonly string _insertJob = $"""
        INSERT INTO "{options.SchemaName}"."job" ("invocationdata", "arguments", "createdat", "expireat")
        VALUES ($1::jsonb, $2::jsonb, $3, $4) RETURNING "id"
        """;

    private readonly string _insertParameter = $"""
        INSERT INTO "{options.SchemaName}"."jobparameter" ("jobid", "name", "value") VALUES ($1, $2, $3)
        """;

    // The rows the library's client writes for Create(job, EnqueuedState): the job (CreateExpiredJob), then in one
    // transaction its state (SetJobState), no expiry (PersistJob: Enqueued is not final) and its queue row (AddToQueue).
    // The job takes its state's id from the state's own sequence, as the state's insert cannot update a row inserted
    // by the same statement; the foreign key on state.jobid is checked at the statement's end, when both rows exist.
    private readonly string _insertEnqueuedJob = $"""
        WITH "j" AS (
            INSERT INTO "{options.SchemaName}"."job" ("stateid", "statename", "invocationdata", "arguments", "createdat")
            VALUES (nextval(pg_get_serial_sequence('"{options.SchemaName}"."state"', 'id')), $5, $1::jsonb, $2::jsonb, $3)
            RETURNING "id", "stateid"
        ), "s" AS (
            INSERT INTO "{options.SchemaName}"."state" ("id", "jobid", "name", "createdat", "data")
            SELECT "stateid", "id", $5, $3, $4::jsonb FROM "j"
        ), "q" AS (
            INSERT INTO "{options.SchemaName}"."jobqueue" ("jobid", "queue") SELECT "id", $6 FROM "j"
        )
        SELECT "id" FROM "j"
        """;

    public override IStorageConnection GetConnection() => new Connection(this);

    /// <summary>
    /// Stores <paramref name="job"/> enqueued on <paramref name="queue"/> with one statement, and returns its id once it
    /// is committed. What the library's client does besides writing rows is left out, and Cruddur needs none of it: its
    /// client filters (Cruddur registers none) and the state machine's election and apply filters, which for a new
    /// Enqueued job do nothing (Hangfire's retry, statistics and continuations filters act on later states).
    /// </summary>
    public string CreateEnqueuedJob(Job job, string queue)
    {
        ArgumentNullException.ThrowIfNull(job);
        var (invocation, arguments) = Serialize(job);
        var state = new EnqueuedState(queue);
        var createdAt = DateTime.UtcNow;
        using var connection = OpenConnection();
        using var insert = new NpgsqlCommand(_insertEnqueuedJob, connection);
        insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = invocation });
        insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = arguments });
        insert.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = createdAt });
        insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = SerializationHelper.Serialize(state.SerializeData()) });
        insert.Parameters.Add(new NpgsqlParameter<string> { TypedValue = state.Name });
        insert.Parameters.Add(new NpgsqlParameter<string> { TypedValue = queue });
        return ((long)insert.ExecuteScalar()!).ToString(CultureInfo.InvariantCulture);
    }

    // The factory hands an open connection when it waits out outages (the Worker's), a closed one otherwise (the Api's).
    private NpgsqlConnection OpenConnection()
    {
        var connection = _connections.GetOrCreateConnection();
        if (connection.State != System.Data.ConnectionState.Open)
        {
            try
            {
                connection.Open();
            }
            catch
            {
                connection.Dispose();
                throw;
            }
        }
        return connection;
    }

    // The invocation data without its copy of the arguments, and the arguments.
    private static (string Invocation, string Arguments) Serialize(Job job)
    {
        var invocation = InvocationData.SerializeJob(job);
        var arguments = invocation.Arguments;
        invocation.Arguments = null;
        return (SerializationHelper.Serialize(invocation), string.IsNullOrEmpty(arguments) ? "[]" : arguments);
    }

    private sealed class Connection(LeanPostgreSqlStorage storage) : PostgreSqlConnection(storage)
    {
        public override string CreateExpiredJob(Job job, IDictionary<string, string> parameters, DateTime createdAt, TimeSpan expireIn)
        {
            ArgumentNullException.ThrowIfNull(job);
            ArgumentNullException.ThrowIfNull(parameters);
            var (invocation, arguments) = Serialize(job);

            // The library's client writes the state in a second transaction; this row has an expiry until then. In an
            // ambient scope the connection enlists in it, as the library's own writes do.
            using var connection = storage.OpenConnection();
            using var transaction = Transaction.Current is null && parameters.Count > 0 ? connection.BeginTransaction() : null;
            long id;
            using (var insert = new NpgsqlCommand(storage._insertJob, connection, transaction))
            {
                insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = invocation });
                insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = arguments });
                insert.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = createdAt });
                insert.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = createdAt.Add(expireIn) });
                id = (long)insert.ExecuteScalar()!;
            }
            foreach (var (name, value) in parameters)
            {
                using var insert = new NpgsqlCommand(storage._insertParameter, connection, transaction);
                insert.Parameters.Add(new NpgsqlParameter<long> { TypedValue = id });
                insert.Parameters.Add(new NpgsqlParameter<string> { TypedValue = name });
                insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = (object?)value ?? DBNull.Value });
                insert.ExecuteNonQuery();
            }
            transaction?.Commit();
            return id.ToString(CultureInfo.InvariantCulture);
        }
    }
}

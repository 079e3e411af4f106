using System.Globalization;
using System.Reflection;
using Hangfire.Common;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Utils;
using Hangfire.Server;
using Hangfire.States;
using Hangfire.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Cruddur.HangfireOverrides;

/// <summary>
/// Hangfire.PostgreSql's storage (<see cref="OverriddenHangfireVersions"/>), except in how a job's rows are written; the rows
/// themselves stay what the library reads, and a job the library wrote reads here as before:
/// <list type="bullet">
/// <item>a job's arguments are written once. The library writes them into <c>job.arguments</c> and again inside
/// <c>job.invocationdata</c>, escaped one level deeper (21.7 kB of a 22 kB <c>invocationdata</c> for 64 posts), though
/// every reader of the library (<c>GetJobData</c>, the dashboard's monitoring API) replaces that copy with
/// <c>job.arguments</c> (docs/upstream/hangfire-postgresql-arguments-once.md);</item>
/// <item><see cref="CreateEnqueuedJob"/> writes an enqueued job, its Enqueued state and its queue row in one
/// statement: one round trip and one commit, where the library's client takes six round trips in a transaction;</item>
/// <item>its connections (<see cref="Connection"/>) take a job's state lock and read the job in one round trip, in the
/// transaction of <see cref="OneTransactionStateChanger"/>.</item>
/// </list>
/// </summary>
public sealed partial class BatchingPostgreSqlStorage(IConnectionFactory connections, PostgreSqlStorageOptions options)
    : PostgreSqlStorage(connections, options)
{
    // PostgreSqlJobQueue's channel, which the library notifies after a queue insert when EnableLongPolling is on. Every
    // enqueue here notifies it, with the job's queue, at its commit: NewJobListener wakes a Worker's fetchers of that queue.
    internal const string NewJobChannel = "new_job";

    // The library wakes this process's fetchers of a queue when a committed transaction added a job to it
    // (PostgreSqlWriteOnlyTransaction.Commit sets PostgreSqlJobQueue._queueEventRegistry, an internal field): read once here,
    // and checked by the version-pin tests.
    internal static readonly AutoResetEventRegistry QueueEvents =
        typeof(PostgreSqlJobQueue).GetField("_queueEventRegistry", BindingFlags.NonPublic | BindingFlags.Static)?.GetValue(null) as AutoResetEventRegistry
        ?? throw new InvalidOperationException(
            $"Hangfire.PostgreSql has no PostgreSqlJobQueue._queueEventRegistry: re-check {nameof(BatchingPostgreSqlStorage)} against it (docs/architecture.md, \"Hangfire overrides\").");

    private readonly IConnectionFactory _connections = connections;
    private readonly PostgreSqlStorageOptions _options = options;

    private readonly string _insertJob = $"""
        INSERT INTO "{options.SchemaName}"."job" ("invocationdata", "arguments", "createdat", "expireat")
        VALUES ($1::jsonb, $2::jsonb, $3, $4) RETURNING "id"
        """;

    private readonly string _insertParameter = $"""
        INSERT INTO "{options.SchemaName}"."jobparameter" ("jobid", "name", "value") VALUES ($1, $2, $3)
        """;

    // The rows the library's client writes for Create(job, EnqueuedState): the job (CreateExpiredJob), then in one
    // transaction its state (SetJobState), no expiry (PersistJob: Enqueued is not final) and its queue row (AddToQueue);
    // and a NOTIFY on the library's channel, delivered at commit (the library sends one only with long polling on, which
    // ignores the payload). Identical notifications of one transaction are sent once, so a job is one notification.
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
        SELECT "id", pg_notify('{NewJobChannel}', $6) FROM "j"
        """;

    /// <summary>The SQL of a state change's writes, in this storage's schema (<see cref="OneTransactionStateChanger"/>).</summary>
    internal StateWriteSql StateWrites { get; } = new(options.SchemaName);

    /// <summary>Whether the library's transactions join an ambient transaction scope (<c>EnableTransactionScopeEnlistment</c>).</summary>
    internal bool EnlistsInTransactionScope => _options.EnableTransactionScopeEnlistment;

    /// <summary>The name of <paramref name="jobId"/>'s state lock, as the library names it: <c>{schema}:job:{id}:state-lock</c>.</summary>
    public string JobLockResource(string jobId) => $"{_options.SchemaName}:job:{jobId}:state-lock";

    public override IStorageConnection GetConnection() => new Connection(this);

    // The library's components (PostgreSqlStorage.GetComponents: its expiration manager, counters aggregator, heartbeat),
    // which a Hangfire server runs while the storage lacks ProcessesInsteadOfComponents, and the closer of open jobs.
#pragma warning disable CS0618, CS0672 // the library's storage still offers its processes as components
    public override IEnumerable<IServerComponent> GetComponents() => base.GetComponents().Append(new AbandonedOpenJobCloser(this));
#pragma warning restore CS0618, CS0672

    /// <summary>
    /// Stores <paramref name="job"/> enqueued on <paramref name="queue"/> with one statement, and returns its id once it
    /// is committed; then wakes this process's fetchers of the queue, as the library's commit does. The commit notifies
    /// <see cref="NewJobListener"/>s in other processes. What the library's
    /// client does besides is left out, and Cruddur needs none of it: its client filters (a test keeps Hangfire's global
    /// filters free of them) and the state machine's election and apply filters, which for a new Enqueued job do nothing
    /// (Hangfire's retry, statistics and continuations filters act on later states).
    /// </summary>
    public string CreateEnqueuedJob(Job job, string queue)
    {
        long id;
        using (var connection = OpenConnection())
        using (var insert = InsertEnqueuedJob(connection, job, queue))
        {
            id = (long)insert.ExecuteScalar()!;
        }
        QueueEvents.Set(queue);
        return id.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary><see cref="CreateEnqueuedJob"/> for an asynchronous caller.</summary>
    public async Task<string> CreateEnqueuedJobAsync(Job job, string queue, CancellationToken cancellationToken)
    {
        long id;
        var connection = _connections.GetOrCreateConnection();
        await using (connection)
        {
            if (connection.State != System.Data.ConnectionState.Open)
            {
                await connection.OpenAsync(cancellationToken);
            }
            await using var insert = InsertEnqueuedJob(connection, job, queue);
            // Not cancelled once sent: the caller learns whether the job is committed.
            id = (long)(await insert.ExecuteScalarAsync(CancellationToken.None))!;
        }
        QueueEvents.Set(queue);
        return id.ToString(CultureInfo.InvariantCulture);
    }

    private NpgsqlCommand InsertEnqueuedJob(NpgsqlConnection connection, Job job, string queue)
    {
        ArgumentNullException.ThrowIfNull(job);
        var (invocation, arguments) = Serialize(job);
        var state = new EnqueuedState(queue);
        var insert = new NpgsqlCommand(_insertEnqueuedJob, connection);
        insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = invocation });
        insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = arguments });
        insert.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = DateTime.UtcNow });
        insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = SerializationHelper.Serialize(state.SerializeData()) });
        insert.Parameters.Add(new NpgsqlParameter<string> { TypedValue = state.Name });
        insert.Parameters.Add(new NpgsqlParameter<string> { TypedValue = queue });
        return insert;
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
}

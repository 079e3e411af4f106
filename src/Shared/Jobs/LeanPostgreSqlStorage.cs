using System.Globalization;
using System.Transactions;
using Hangfire.Common;
using Hangfire.PostgreSql;
using Hangfire.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Cruddur.Shared.Jobs;

/// <summary>
/// Hangfire.PostgreSql's storage, except that a new job's arguments are written once. The library (1.21.1) writes them
/// into <c>job.arguments</c> and again inside <c>job.invocationdata</c>, escaped one level deeper: for a job of 64 posts,
/// 21.7 kB of a 22 kB <c>invocationdata</c>, which PostgreSQL parses and compresses on insert and prints on each of the
/// Worker's two reads, and which Newtonsoft writes on the Api and reads twice on the Worker, though every reader of the
/// library (<c>GetJobData</c>, the dashboard's monitoring API) replaces it with <c>job.arguments</c>
/// (docs/performance.md, "Arguments written once"). The rows stay what the library reads, and a job the library wrote
/// reads here as before.
/// </summary>
internal sealed class ArgumentsOnceStorage(IConnectionFactory connections, PostgreSqlStorageOptions options)
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

    public override IStorageConnection GetConnection() => new Connection(this);

    private sealed class Connection(ArgumentsOnceStorage storage) : PostgreSqlConnection(storage)
    {
        public override string CreateExpiredJob(Job job, IDictionary<string, string> parameters, DateTime createdAt, TimeSpan expireIn)
        {
            ArgumentNullException.ThrowIfNull(job);
            ArgumentNullException.ThrowIfNull(parameters);
            var invocation = InvocationData.SerializeJob(job);
            var arguments = invocation.Arguments;
            invocation.Arguments = null;

            // In an ambient scope (HangfireJobQueue's) the connection enlists in it, as the library's own writes do, and
            // Npgsql hands the same connection to the state change that follows: the job still commits once.
            using var connection = storage._connections.GetOrCreateConnection();
            if (connection.State != System.Data.ConnectionState.Open)
            {
                connection.Open();
            }
            using var transaction = Transaction.Current is null && parameters.Count > 0 ? connection.BeginTransaction() : null;
            long id;
            using (var insert = new NpgsqlCommand(storage._insertJob, connection, transaction))
            {
                insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = SerializationHelper.Serialize(invocation) });
                insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = string.IsNullOrEmpty(arguments) ? "[]" : arguments });
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

using System.Diagnostics;
using System.Globalization;
using System.Transactions;
using Hangfire.Common;
using Hangfire.PostgreSql;
using Hangfire.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Cruddur.HangfireOverrides;

public sealed partial class BatchingPostgreSqlStorage
{
    // A state change's lock (see Connection.LockForStateChange): the library's lock row, inserted and deleted by the state
    // change's own transaction, and a holder's row older than DistributedLockTimeout deleted, as the library deletes it.
    private readonly string _insertLock = $"""
        INSERT INTO "{options.SchemaName}"."lock" ("resource", "acquired") VALUES ($1, $2) ON CONFLICT DO NOTHING
        """;

    private readonly string _deleteOwnOrExpiredLock = $"""
        DELETE FROM "{options.SchemaName}"."lock" WHERE "resource" = $1 AND ("xmin" = pg_current_xact_id()::xid OR "acquired" < $2)
        """;

    // The job's parameters come with it (names and values, aligned): read under its lock, they are the snapshot Hangfire's
    // filters may use instead of a query each (JobData.ParametersSnapshot).
    private readonly string _selectJob = $"""
        SELECT "j"."statename", "j"."createdat", "p"."names", "p"."values", "j"."invocationdata", "j"."arguments"
        FROM "{options.SchemaName}"."job" "j", LATERAL (
            SELECT array_agg("name") AS "names", array_agg("value") AS "values" FROM "{options.SchemaName}"."jobparameter" WHERE "jobid" = "j"."id") "p"
        WHERE "j"."id" = $1
        """;

    private readonly string _selectJobState = $"""
        SELECT "j"."statename", "j"."createdat", "p"."names", "p"."values"
        FROM "{options.SchemaName}"."job" "j", LATERAL (
            SELECT array_agg("name") AS "names", array_agg("value") AS "values" FROM "{options.SchemaName}"."jobparameter" WHERE "jobid" = "j"."id") "p"
        WHERE "j"."id" = $1
        """;

    public sealed class Connection(BatchingPostgreSqlStorage storage) : PostgreSqlConnection(storage)
    {
        // The job a state change locked and read (LockForStateChange), handed to the library's changer by GetJobData with its
        // parameters; and the job's deserialized call, which never changes, so a second state change of the same job need not
        // read it again.
        private (string Id, bool Found, string? State, DateTime CreatedAt, IReadOnlyDictionary<string, string?>? Parameters)? _locked;
        private (string Id, Job? Job, JobLoadException? Error)? _call;

        public BatchingPostgreSqlStorage Storage => storage;

        /// <summary>
        /// Opens a connection enlisted in the ambient transaction, takes <paramref name="jobId"/>'s state lock in it and reads
        /// the job, in one round trip; <see cref="GetJobData"/> returns that read once, until the lock is disposed. The lock is the library's own row in <c>lock</c>, inserted and deleted by this
        /// transaction: its uncommitted index entry makes any other taker's insert (the library's, in another process) wait
        /// until this transaction ends, and a crash cannot leave it behind. A lock the library holds is waited for, as the
        /// library waits: retried until <paramref name="timeout"/>, after deleting it once older than the storage's
        /// <c>DistributedLockTimeout</c>.
        /// </summary>
        public JobLock LockForStateChange(string jobId, TimeSpan timeout, CancellationToken cancellationToken)
        {
            var connection = storage.OpenConnection();
            try
            {
                connection.EnlistTransaction(Transaction.Current ?? throw new InvalidOperationException("A state change runs in a transaction scope."));
                var id = long.Parse(jobId, CultureInfo.InvariantCulture);
                var resource = storage.JobLockResource(jobId);
                var readCall = _call?.Id != jobId;
                var waited = Stopwatch.StartNew();
                while (!TryLockAndRead(connection, resource, id, readCall))
                {
                    if (waited.Elapsed > timeout)
                    {
                        throw new PostgreSqlDistributedLockException(resource);
                    }
                    cancellationToken.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(100));
                    cancellationToken.ThrowIfCancellationRequested();
                }
                return new JobLock(this, connection);
            }
            catch
            {
                connection.Dispose();
                throw;
            }
        }

        private bool TryLockAndRead(NpgsqlConnection connection, string resource, long id, bool readCall)
        {
            using var batch = new NpgsqlBatch(connection)
            {
                BatchCommands =
                {
                    new(storage._insertLock)
                    {
                        Parameters = { new NpgsqlParameter<string> { TypedValue = resource }, new NpgsqlParameter<DateTime> { TypedValue = DateTime.UtcNow } },
                    },
                    new(storage._deleteOwnOrExpiredLock)
                    {
                        Parameters =
                        {
                            new NpgsqlParameter<string> { TypedValue = resource },
                            new NpgsqlParameter<DateTime> { TypedValue = DateTime.UtcNow - storage._options.DistributedLockTimeout },
                        },
                    },
                    new(readCall ? storage._selectJob : storage._selectJobState) { Parameters = { new NpgsqlParameter<long> { TypedValue = id } } },
                },
            };
            using var reader = batch.ExecuteReader();
            if (batch.BatchCommands[0].RecordsAffected == 0)
            {
                return false;
            }
            var jobId = id.ToString(CultureInfo.InvariantCulture);
            if (!reader.Read())
            {
                _locked = (jobId, false, null, default, null);
                return true;
            }
            _locked = (jobId, true, reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetDateTime(1), Parameters(reader));
            if (readCall)
            {
                var invocation = SerializationHelper.Deserialize<InvocationData>(reader.GetString(4));
                invocation.Arguments = reader.IsDBNull(5) ? null : reader.GetString(5);
                try
                {
                    _call = (jobId, invocation.DeserializeJob(), null);
                }
                catch (JobLoadException e)
                {
                    _call = (jobId, null, e);
                }
            }
            return true;
        }

        private static Dictionary<string, string?> Parameters(NpgsqlDataReader reader)
        {
            var parameters = new Dictionary<string, string?>(StringComparer.Ordinal);
            if (!reader.IsDBNull(2))
            {
                var names = reader.GetFieldValue<string[]>(2);
                var values = reader.GetFieldValue<string?[]>(3);
                for (var i = 0; i < names.Length; i++)
                {
                    parameters[names[i]] = values[i];
                }
            }
            return parameters;
        }

        /// <summary>The connection holding a job's state lock, in the ambient transaction; disposing it ends the lock's read.</summary>
        public sealed class JobLock(Connection owner, NpgsqlConnection connection) : IDisposable
        {
            public NpgsqlConnection Connection => connection;

            public void Dispose()
            {
                owner._locked = null;
                connection.Dispose();
            }
        }

        /// <summary>The job as <see cref="LockForStateChange"/> read it, once; otherwise the library's read.</summary>
        public override JobData? GetJobData(string id)
        {
            if (_locked is not { } locked || locked.Id != id || _call is not { } call || call.Id != id)
            {
                return base.GetJobData(id);
            }
            _locked = null;
            // The parameters were read under the job's lock, which every writer of a parameter that matters to a state change
            // takes (the continuations a child adds, the retry count the retry filter sets while electing a state): the
            // snapshot Hangfire's filters read with allowStale, as they do from Hangfire.SqlServer's.
            return !locked.Found
                ? null
                : new JobData
                {
                    Job = call.Job, LoadException = call.Error, State = locked.State, CreatedAt = locked.CreatedAt,
                    ParametersSnapshot = locked.Parameters!,
                };
        }

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

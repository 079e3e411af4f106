using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Cruddur.Shared.Data;

/// <summary>
/// The seed's <c>Db</c>: run a template with bound parameters, and let Postgres build the JSON.
/// Errors are never swallowed: they surface as <see cref="PostgresException"/> (with its SQLSTATE) or
/// <see cref="NpgsqlException"/>, whose messages never include the connection's password.
/// The reads (JSON and typed rows) go through <paramref name="reads"/>, a pool of its own without Npgsql's reset on close
/// (<see cref="DataServiceCollectionExtensions.ReadsKey"/>); writes through <paramref name="dataSource"/>.
/// </summary>
public sealed class Db(
    NpgsqlDataSource dataSource, SqlTemplates templates, [FromKeyedServices(DataServiceCollectionExtensions.ReadsKey)] NpgsqlDataSource reads)
{
    /// <summary>The template <c>db/sql/{feature}/{name}.sql</c>.</summary>
    public SqlTemplate Template(string feature, string name) => templates.Get(feature, name);

    /// <summary>
    /// Runs a write in its own transaction (autocommit) and returns the first column of the first row it
    /// returns (its <c>RETURNING</c> value), or <c>default</c> when it returned no row.
    /// </summary>
    public async Task<T?> QueryCommitAsync<T>(SqlTemplate sql, SqlParameters? parameters = null, CancellationToken cancellationToken = default)
    {
        await using var command = Command(sql.Text, parameters);
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return value is null or DBNull ? default : (T)value;
    }

    /// <summary>
    /// Runs a write in its own transaction (autocommit) and returns every row it returns, each read by
    /// <paramref name="read"/>: for a statement whose <c>RETURNING</c> (or final <c>SELECT</c>) reports per row.
    /// </summary>
    public async Task<List<T>> QueryCommitRowsAsync<T>(
        SqlTemplate sql, SqlParameters? parameters, Func<NpgsqlDataReader, T> read, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(read);
        await using var command = Command(sql.Text, parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<T>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(read(reader));
        }
        return rows;
    }

    // The reads wrap the template in a FROM subquery, where PostgreSQL refuses a data-modifying statement:
    // they can only read, so the read pool's connections carry no session state to reset.

    /// <summary>
    /// The first row of a read-only template, read by <paramref name="read"/> into a typed value, or <c>default</c>
    /// when there is no row: for lookups the process uses itself (JSON is built by Postgres only for HTTP answers).
    /// </summary>
    public async Task<T?> QueryRowAsync<T>(
        SqlTemplate sql, SqlParameters? parameters, Func<NpgsqlDataReader, T> read, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(read);
        await using var command = Command($"SELECT * FROM (\n{sql.Text}\n) object_row LIMIT 1", parameters, reads);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? read(reader) : default;
    }

    /// <summary>The first row of the template as a JSON object, or <c>null</c> when there is no row.</summary>
    public async Task<string?> QueryObjectJsonAsync(SqlTemplate sql, SqlParameters? parameters = null, CancellationToken cancellationToken = default)
    {
        await using var command = Command($"SELECT row_to_json(object_row)::text FROM (\n{sql.Text}\n) object_row LIMIT 1", parameters, reads);
        return await command.ExecuteScalarAsync(cancellationToken) as string;
    }

    /// <summary>
    /// Every row of the template as a JSON array of objects, in the template's order (<c>[]</c> when there are
    /// none), with the row count and the last row's <c>created_at</c> and <c>uuid</c> as columns of their own: a keyset page and its cursor,
    /// without parsing the JSON. The template must select those two columns.
    /// </summary>
    public async Task<JsonPage> QueryPageJsonAsync(SqlTemplate sql, SqlParameters? parameters = null, CancellationToken cancellationToken = default)
    {
        await using var command = Command(
            $"""
            SELECT COALESCE(json_agg(page_row), '[]'::json)::text, count(*)::int,
              (array_agg(page_row.created_at))[count(*)::int], (array_agg(page_row.uuid))[count(*)::int]
            FROM (
            {sql.Text}
            ) page_row
            """, parameters, reads);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var count = reader.GetInt32(1);
        return new JsonPage(
            reader.GetString(0), count,
            count == 0 ? null : reader.GetFieldValue<DateTimeOffset>(2), count == 0 ? null : reader.GetGuid(3));
    }

    private NpgsqlCommand Command(string text, SqlParameters? parameters, NpgsqlDataSource? source = null)
    {
        var command = (source ?? dataSource).CreateCommand(text);
        foreach (var (name, value) in parameters ?? [])
        {
            command.Parameters.Add(new NpgsqlParameter(name, value ?? DBNull.Value));
        }
        return command;
    }
}

/// <summary>A page of rows as a JSON array, how many, and the last row's keyset key (null when there are none).</summary>
public sealed record JsonPage(string Json, int Count, DateTimeOffset? LastCreatedAt, Guid? LastUuid);

/// <summary>Named parameters for a template: <c>@handle</c> in the SQL is <c>["handle"]</c> here. Always bound, never formatted.</summary>
public sealed class SqlParameters : Dictionary<string, object?>
{
    public SqlParameters() : base(StringComparer.Ordinal)
    {
    }
}

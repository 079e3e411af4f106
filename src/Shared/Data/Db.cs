using Npgsql;

namespace Cruddur.Shared.Data;

/// <summary>
/// The seed's <c>Db</c>: run a template with bound parameters, and let Postgres build the JSON.
/// Errors are never swallowed: they surface as <see cref="PostgresException"/> (with its SQLSTATE) or
/// <see cref="NpgsqlException"/>, whose messages never include the connection's password.
/// </summary>
public sealed class Db(NpgsqlDataSource dataSource, SqlTemplates templates)
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

    /// <summary>The first row of the template as a JSON object, or <c>null</c> when there is no row.</summary>
    public async Task<string?> QueryObjectJsonAsync(SqlTemplate sql, SqlParameters? parameters = null, CancellationToken cancellationToken = default)
    {
        await using var command = Command($"SELECT row_to_json(object_row)::text FROM (\n{sql.Text}\n) object_row LIMIT 1", parameters);
        return await command.ExecuteScalarAsync(cancellationToken) as string;
    }

    /// <summary>Every row of the template as a JSON array of objects, in the template's order; <c>[]</c> when there are none.</summary>
    public async Task<string> QueryArrayJsonAsync(SqlTemplate sql, SqlParameters? parameters = null, CancellationToken cancellationToken = default)
    {
        await using var command = Command(
            $"SELECT COALESCE(json_agg(array_row), '[]'::json)::text FROM (\n{sql.Text}\n) array_row", parameters);
        return (string)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private NpgsqlCommand Command(string text, SqlParameters? parameters)
    {
        var command = dataSource.CreateCommand(text);
        foreach (var (name, value) in parameters ?? [])
        {
            command.Parameters.Add(new NpgsqlParameter(name, value ?? DBNull.Value));
        }
        return command;
    }
}

/// <summary>Named parameters for a template: <c>@handle</c> in the SQL is <c>["handle"]</c> here. Always bound, never formatted.</summary>
public sealed class SqlParameters : Dictionary<string, object?>
{
    public SqlParameters() : base(StringComparer.Ordinal)
    {
    }
}

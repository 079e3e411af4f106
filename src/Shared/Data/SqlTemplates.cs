using System.Collections.Concurrent;

namespace Cruddur.Shared.Data;

/// <summary>One query from <c>db/sql/{feature}/{name}.sql</c>, named for error messages.</summary>
public sealed record SqlTemplate(string Name, string Text);

/// <summary>
/// Loads the query files under <c>db/sql</c>, as the seed's <c>db.template("activities", "create")</c>,
/// each read from disk once per process.
/// </summary>
public sealed class SqlTemplates
{
    private readonly string _root;
    private readonly ConcurrentDictionary<string, SqlTemplate> _loaded = new(StringComparer.Ordinal);

    public SqlTemplates(string? root = null) => _root = root ?? System.IO.Path.Combine(DbDirectory.Path, "sql");

    /// <summary>The template <c>db/sql/{feature}/{name}.sql</c>, with any trailing semicolon removed so it can be wrapped.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    public SqlTemplate Get(string feature, string name) =>
        _loaded.GetOrAdd($"{feature}/{name}", key =>
        {
            var path = System.IO.Path.Combine(_root, feature, name + ".sql");
            if (!File.Exists(path))
            {
                throw new FileNotFoundException($"SQL template {key} not found at {path}.", path);
            }
            return new SqlTemplate(key, File.ReadAllText(path).Trim().TrimEnd(';').TrimEnd());
        });
}

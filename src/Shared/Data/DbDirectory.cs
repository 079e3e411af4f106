namespace Cruddur.Shared.Data;

/// <summary>
/// Finds the repository's <c>db/</c> folder (migrations, seed, query templates) wherever a process starts:
/// <c>CRUDDUR_DB_DIR</c> first, then the copy beside the binaries, then the working directory and its parents.
/// </summary>
public static class DbDirectory
{
    private static readonly Lazy<string> Located = new(Locate);

    /// <summary>The absolute path of the <c>db/</c> folder.</summary>
    public static string Path => Located.Value;

    private static string Locate()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("CRUDDUR_DB_DIR");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return Directory.Exists(fromEnvironment)
                ? System.IO.Path.GetFullPath(fromEnvironment)
                : throw new DirectoryNotFoundException($"CRUDDUR_DB_DIR points at '{fromEnvironment}', which does not exist.");
        }

        var candidates = new List<string> { System.IO.Path.Combine(AppContext.BaseDirectory, "db") };
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
        {
            candidates.Add(System.IO.Path.Combine(dir.FullName, "db"));
        }
        return candidates.FirstOrDefault(c => Directory.Exists(System.IO.Path.Combine(c, "migrations")))
            ?? throw new DirectoryNotFoundException(
                $"No db/ folder with migrations was found beside {AppContext.BaseDirectory} or above {Environment.CurrentDirectory}; set CRUDDUR_DB_DIR.");
    }
}

using System.Reflection;

namespace Cruddur.Tests.Fixtures;

/// <summary>The checkout under test, and its bin/ scripts run as a developer would run them.</summary>
public static class Repository
{
    public static string Root { get; } = Metadata("RepositoryRoot");

    /// <summary>The Worker's own build output (same configuration as the tests), so scripts need not build it again.</summary>
    public static string WorkerDll { get; } =
        Path.Combine(Root, "src", "Worker", "bin", Metadata("Configuration"), "net10.0", "Cruddur.Worker.dll");

    /// <summary>The Api's own build output.</summary>
    public static string ApiDll { get; } =
        Path.Combine(Root, "src", "Api", "bin", Metadata("Configuration"), "net10.0", "Cruddur.Api.dll");

    /// <summary>The Cognito trigger's own build output (bin/cognito-trigger-invoke runs it, bin/cognito-trigger-deploy zips its folder).</summary>
    public static string CognitoTriggerDll { get; } =
        Path.Combine(Root, "src", "CognitoTrigger", "bin", Metadata("Configuration"), "net10.0", "Cruddur.CognitoTrigger.dll");

    private static string Metadata(string key) => typeof(Repository).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == key).Value!;

    /// <summary>README.md's text, for the tests that run its commands as a person pastes them.</summary>
    public static string Readme => File.ReadAllText(Path.Combine(Root, "README.md"));

    /// <summary>Runs <paramref name="commands"/> in bash from the repository's root, as pasted into a terminal.</summary>
    public static Task<ProcessResult> RunAsPastedAsync(string commands, IReadOnlyDictionary<string, string?> environment) =>
        ProcessRunner.RunAsync("/bin/bash", ["-c", commands], environment, TimeSpan.FromMinutes(1), Root);

    /// <summary>
    /// Runs <c>bin/{script}</c> with the given environment (null removes a variable). The built Worker and trigger
    /// are handed over unless the environment removes them (<c>["CRUDDUR_WORKER_DLL"] = null</c>: as a person runs it).
    /// </summary>
    public static Task<ProcessResult> RunScriptAsync(string script, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?> environment, TimeSpan? timeout = null)
    {
        var env = new Dictionary<string, string?>(environment);
        env.TryAdd("CRUDDUR_WORKER_DLL", WorkerDll);
        env.TryAdd("CRUDDUR_COGNITO_TRIGGER_DLL", CognitoTriggerDll);
        env["NO_COLOR"] = "1";
        foreach (var name in new[] { "CONNECTION_URL", "PROD_CONNECTION_URL" })
        {
            env.TryAdd(name, null); // never inherit a developer's database
        }
        return ProcessRunner.RunAsync(Path.Combine(Root, "bin", script), arguments, env, timeout ?? TimeSpan.FromMinutes(2), Root);
    }
}

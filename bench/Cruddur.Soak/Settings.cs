using System.Globalization;

namespace Cruddur.Soak;

/// <summary>What bin/soak passes: the load and its length on the command line, where things are in the environment.</summary>
internal sealed record Settings(
    int Minutes, int PostRate, int FeedRate, double SignUpRate, TimeSpan Retention, string OutDir,
    int PostgresPort, string PostgresPassword, string ApiDll, string WorkerDll,
    string AwsEndpoint, string UsersQueueUrl, string UsersDlqUrl, string DiskProbeDir)
{
    public const string Usage =
        "Cruddur.Soak --minutes N --rate POSTS_PER_S --feed READS_PER_S --signups PER_S --retention HH:MM:SS --out DIR\n"
        + "  environment: SOAK_PG_PORT, SOAK_PG_PASSWORD, SOAK_API_DLL, SOAK_WORKER_DLL, AWS_ENDPOINT_URL, COGNITO_USERS_QUEUE_URL, COGNITO_USERS_DLQ_URL,\n"
        + "  SOAK_DISK_PROBE_DIR (a folder on the cluster's filesystem)";

    public TimeSpan Duration => TimeSpan.FromMinutes(Minutes);

    /// <summary>The database as this driver reads it: straight to PostgreSQL, never through a proxy.</summary>
    public string DriverConnectionString =>
        $"Host=127.0.0.1;Port={PostgresPort};Username=postgres;Password={PostgresPassword};Database=cruddur;Application Name=soak-driver;Include Error Detail=false";

    /// <summary>The URL a process under test gets: through its own proxy, named so pg_stat_activity tells them apart.</summary>
    public string ProcessUrl(int proxyPort, string applicationName) =>
        $"postgresql://postgres:{Uri.EscapeDataString(PostgresPassword)}@127.0.0.1:{proxyPort}/cruddur?application_name={applicationName}";

    public static Settings? Parse(string[] args)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            options[args[i]] = args[i + 1];
        }
        if (args.Length % 2 != 0
            || !int.TryParse(options.GetValueOrDefault("--minutes"), CultureInfo.InvariantCulture, out var minutes) || minutes < 2
            || !int.TryParse(options.GetValueOrDefault("--rate"), CultureInfo.InvariantCulture, out var rate) || rate < 1
            || !int.TryParse(options.GetValueOrDefault("--feed"), CultureInfo.InvariantCulture, out var feed) || feed < 0
            || !double.TryParse(options.GetValueOrDefault("--signups"), CultureInfo.InvariantCulture, out var signUps) || signUps < 0
            || !TimeSpan.TryParse(options.GetValueOrDefault("--retention"), CultureInfo.InvariantCulture, out var retention)
            || retention < TimeSpan.FromSeconds(10)
            || options.GetValueOrDefault("--out") is not { Length: > 0 } outDir)
        {
            return null;
        }
        string Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"{name} is not set ({Usage})");
        return new Settings(minutes, rate, feed, signUps, retention, outDir,
            int.Parse(Env("SOAK_PG_PORT"), CultureInfo.InvariantCulture), Env("SOAK_PG_PASSWORD"), Env("SOAK_API_DLL"), Env("SOAK_WORKER_DLL"),
            Env("AWS_ENDPOINT_URL"), Env("COGNITO_USERS_QUEUE_URL"), Env("COGNITO_USERS_DLQ_URL"), Env("SOAK_DISK_PROBE_DIR"));
    }
}

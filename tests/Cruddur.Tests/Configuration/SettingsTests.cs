using System.Text.Json;
using Cruddur.Api.Activities;
using Cruddur.Api.Authentication;
using Cruddur.Api.CrossOrigin;
using Cruddur.Api.Dashboard;
using Cruddur.Api.RateLimiting;
using Cruddur.Api.Users;
using Cruddur.Shared.Configuration;
using Cruddur.Shared.Data;
using Cruddur.Shared.Jobs;
using Cruddur.Tests.Fixtures;
using Cruddur.Worker.Activities;
using Cruddur.Worker.Hosting;
using Cruddur.Worker.SecurityGroups;
using Microsoft.Extensions.Configuration;

namespace Cruddur.Tests.Configuration;

/// <summary>Each process's settings: an invalid one stops it at startup by name; its appsettings.json says the code's defaults.</summary>
public sealed class SettingsTests
{
    // Nothing listens here: a bad setting must stop the process before it ever connects.
    private const string NoDatabase = "postgresql://cruddur@127.0.0.1:1/none";

    [Theory]
    [InlineData("WORKER_COUNT", "-1")]
    [InlineData("JOB_RETENTION", "soon")]
    [InlineData("DB_POOL_SIZE", "0")]
    [InlineData("SG_REFRESH_CRON", "every five minutes")]
    [InlineData("HANGFIRE_QUEUE_POLL_MS", "20")] // below Hangfire.PostgreSql's own floor of 50 ms
    public async Task An_invalid_setting_stops_the_worker_at_startup_with_a_message_naming_it(string setting, string value)
    {
        await using var worker = ServiceProcess.StartWorker(NoDatabase, new Dictionary<string, string?> { [setting] = value });

        var exitCode = await worker.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.True(exitCode == 1, worker.Output);
        Assert.Contains("Cruddur.Worker did not start", worker.Output, StringComparison.Ordinal);
        Assert.Contains(setting, worker.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ACTIVITY_BATCH_MAX_SIZE", "0")]
    [InlineData("ACTIVITY_BATCH_LINGER_MS", "-1")]
    [InlineData("ACTIVITY_BATCH_MIN_INTERVAL_MS", "-1")]
    [InlineData("HANGFIRE_QUEUE_POLL_MS", "a quarter second")]
    [InlineData("FRONTEND_URL", "*")]
    [InlineData("POST_RATE_LIMIT_PER_SECOND", "-1")]
    [InlineData("POST_RATE_LIMIT_BURST", "5")] // below the default rate of 10 a second
    [InlineData("ACTIVITY_BATCH_MAX_PENDING", "0")]
    [InlineData("FRONTEND_URL", "http://localhost:3000, http://localhost:3000/app")]
    [InlineData("FRONTEND_URL", "localhost:3000")]
    [InlineData("HANGFIRE_DASHBOARD_VIEWER_USER", "support")] // without its password, and without the operator's credentials
    public async Task An_invalid_setting_stops_the_api_at_startup_with_a_message_naming_it(string setting, string value)
    {
        await using var api = ServiceProcess.Start(Repository.ApiDll,
            new Dictionary<string, string?> { ["CONNECTION_URL"] = NoDatabase, ["ALLOW_ANONYMOUS_POSTS"] = "true", [setting] = value },
            "--urls", $"http://127.0.0.1:{PortAllocator.Free()}");

        var exitCode = await api.WaitForExitAsync(TimeSpan.FromSeconds(60));

        // The Api lets the exception end it, as ASP.NET Core apps do (a catch in Program.cs would hide it from
        // WebApplicationFactory's tests): it exits before it listens, and its message names the setting.
        Assert.True(exitCode != 0, api.Output);
        Assert.Contains(setting, api.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void The_workers_appsettings_json_lists_the_defaults_the_code_has()
    {
        var file = AppSettings("Worker");

        Assert.Equal(Json(new FunctionHostOptions()), Json(Settings.Read<FunctionHostOptions>(file)));
        Assert.Equal(Json(new DatabaseOptions()), Json(Settings.Read<DatabaseOptions>(file)));
        Assert.Equal(Json(new JobStorageOptions()), Json(Settings.Read<JobStorageOptions>(file)));
        Assert.Equal(Json(new SecurityGroupRefreshOptions()), Json(Settings.WithoutBlanks(file).Get<SecurityGroupRefreshOptions>()));
        Assert.Equal(ActivityPurgeFunctions.DefaultCron, file[ActivityPurgeFunctions.CronSetting]);
        Assert.Equal(SecurityGroupRefreshOptions.DefaultCron, file["SG_REFRESH_CRON"]);
        Assert.Equal("", file["CONNECTION_URL"]); // no secret in the file: the URL comes from the environment
    }

    [Fact]
    public void The_apis_appsettings_json_lists_the_defaults_the_code_has()
    {
        var file = AppSettings("Api");

        Assert.Equal(Json(new ActivityBatchOptions()), Json(Settings.Read<ActivityBatchOptions>(file)));
        Assert.Equal(Json(new UserCacheOptions()), Json(Settings.Read<UserCacheOptions>(file)));
        Assert.Equal(Json(new FeedCacheOptions()), Json(Settings.Read<FeedCacheOptions>(file)));
        Assert.Equal(Json(new FrontendOriginsOptions()), Json(Settings.Read<FrontendOriginsOptions>(file)));
        Assert.Equal(Json(new PostRateLimitOptions()), Json(Settings.Read<PostRateLimitOptions>(file)));
        Assert.Equal(Json(new ValidatedTokenCacheOptions()), Json(Settings.Read<ValidatedTokenCacheOptions>(file)));
        Assert.Equal(Json(new DashboardAccessOptions()), Json(Settings.Read<DashboardAccessOptions>(file)));
        Assert.Equal(Json(new DatabaseOptions()), Json(Settings.Read<DatabaseOptions>(file)));
        Assert.Equal(Json(new JobStorageOptions()), Json(Settings.Read<JobStorageOptions>(file)));
        var ingress = Settings.Read<CognitoUsersIngressOptions>(file);
        Assert.Equal((1, 20), (ingress.Pollers, ingress.WaitTimeSeconds));
        Assert.Equal(("", ""), (file["CONNECTION_URL"], file["HANGFIRE_DASHBOARD_PASSWORD"]));
    }

    private static IConfiguration AppSettings(string project) => new ConfigurationBuilder()
        .AddJsonFile(Path.Combine(Repository.Root, "src", project, "appsettings.json"), optional: false)
        .Build();

    private static string Json<T>(T settings) => JsonSerializer.Serialize(settings);
}

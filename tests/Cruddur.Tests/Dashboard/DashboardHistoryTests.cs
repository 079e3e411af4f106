using System.Net;
using Cruddur.Tests.Fixtures;
using Hangfire;
using Microsoft.Extensions.DependencyInjection;

namespace Cruddur.Tests.Dashboard;

/// <summary>The dashboard's history graphs (Hangfire's statistics-history filter, on by default).</summary>
public sealed class DashboardHistoryTests(PostgresServer server)
{
    [Fact]
    public async Task After_a_post_is_stored_the_dashboards_history_counts_its_job_as_succeeded_today_and_this_hour()
    {
        await using var stack = await ActivitiesStack.StartAsync(server);
        var monitoring = stack.Api.Services.GetRequiredService<JobStorage>().GetMonitoringApi();
        var before = (monitoring.SucceededByDatesCount().Values.Sum(), monitoring.HourlySucceededJobs().Values.Sum());

        var response = await stack.Http.PostAsync(new Uri("/api/activities", UriKind.Relative), new StringContent(
            """{"user_handle":"andrewbrown","message":"on the graph","ttl":"1-day"}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var jobId = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("job_id").GetString()!;
        await HangfireJobs.WaitForFinalStateAsync(stack.Db.DataSource, jobId);

        // What the dashboard's "Succeeded" graphs plot: the daily and hourly stats:succeeded counters.
        Assert.Equal(before.Item1 + 1, monitoring.SucceededByDatesCount().Values.Sum());
        Assert.Equal(before.Item2 + 1, monitoring.HourlySucceededJobs().Values.Sum());
    }
}

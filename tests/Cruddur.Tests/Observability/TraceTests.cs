using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Cruddur.Shared.Activities;
using Cruddur.Shared.Jobs;
using Cruddur.Shared.Observability;
using Cruddur.Tests.Fixtures;
using Cruddur.Worker.Activities;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Cruddur.Tests.Observability;

public class TraceTests(PostgresServer server)
{
    [Fact]
    public async Task One_post_yields_one_trace_from_the_http_request_to_the_function_invocation()
    {
        var spans = new List<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource(CruddurTelemetry.Name)
            .AddAspNetCoreInstrumentation()
            .AddInMemoryExporter(spans)
            .Build();
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var worker = await InProcessWorker.StartAsync(db.Url, [typeof(ActivityFunctions)]);
        await using var api = new ApiFactory(db.Url);
        using var http = api.CreateClient();

        var response = await http.PostAsync(new Uri("/api/activities", UriKind.Relative), new StringContent(
            """{"user_handle":"bayko","message":"traced","ttl":"1-hour"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var jobId = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("job_id").GetString();

        // Other tests run hosts in this process too, with job ids of their own databases: find this post's
        // invocation by its job id and a request span in its trace.
        var invocation = (await Eventually.ReachesAsync(() => Snapshot(spans).FirstOrDefault(s => s.GetTagItem("cruddur.job_id") as string == jobId
                && Snapshot(spans).Any(r => r.TraceId == s.TraceId && r.Kind == ActivityKind.Server)),
            span => span is not null, $"a span for the create-activity invocation of job {jobId}, in a trace with a request span"))!;
        var request = Assert.Single(Snapshot(spans), s => s.TraceId == invocation.TraceId && s.Kind == ActivityKind.Server);

        Assert.Equal("create-activity", invocation.DisplayName);
        Assert.Equal(ActivityKind.Consumer, invocation.Kind);
        Assert.Equal("POST", request.GetTagItem("http.request.method"));
        Assert.Equal(request.SpanId, invocation.ParentSpanId);
    }

    [Fact]
    public async Task A_job_stored_by_an_older_api_with_its_trace_in_a_job_parameter_still_runs_and_continues_that_trace()
    {
        var spans = new List<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource(CruddurTelemetry.Name)
            .AddInMemoryExporter(spans)
            .Build();
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var worker = await InProcessWorker.StartAsync(db.Url, [typeof(ActivityFunctions)]);
        var storage = worker.Services.GetRequiredService<JobStorage>();
        var parent = ActivityContext.Parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", null);

        // What an Api before this change stored: the four-argument call, and the trace context as a job parameter.
        var now = DateTimeOffset.UtcNow;
        var activity = new CreateActivityJob(Guid.CreateVersion7(), "bayko", "from an older api", now, now.AddHours(1));
        var payload = JobPayload.Serialize(new[] { activity });
        var client = new BackgroundJobClient(storage);
        var jobId = client.Create(
            Job.FromExpression<IFunctionDispatcher>(d => d.DispatchAsync(CreateActivityJob.Function, payload, null, CancellationToken.None), CreateActivityJob.Queue),
            new ScheduledState(TimeSpan.FromHours(1)));
        using (var connection = storage.GetConnection())
        {
            connection.SetJobParameter(jobId, "traceparent", "\"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\"");
        }
        Assert.True(client.ChangeState(jobId, new EnqueuedState(CreateActivityJob.Queue), ScheduledState.StateName));

        Assert.Equal("Succeeded", (await HangfireJobs.WaitForFinalStateAsync(db.DataSource, jobId)).State);
        Assert.Equal(1L, await db.ScalarAsync<long>($"SELECT count(*) FROM activities WHERE uuid = '{activity.Uuid}'"));
        var invocation = Assert.Single(Snapshot(spans), s => s.TraceId == parent.TraceId);
        Assert.Equal(jobId, invocation.GetTagItem("cruddur.job_id"));
        Assert.Equal(parent.SpanId, invocation.ParentSpanId);
    }

    [Fact]
    public async Task Spans_are_collected_for_an_exporter_only_when_one_is_configured()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var quiet = new ApiFactory(db.Url);
        await using var exporting = new ApiFactory(db.Url, new Dictionary<string, string?> { ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9" });

        // Without an exporter no provider samples the Api's requests and commands; with one, they are traced and exported.
        Assert.Null(quiet.Services.GetService<TracerProvider>());
        Assert.NotNull(exporting.Services.GetService<TracerProvider>());
        Assert.NotNull(exporting.Services.GetService<MeterProvider>());
    }

    // The exporter appends from other threads without a lock: copy, and copy again if an append got in the way.
    private static List<Activity> Snapshot(List<Activity> spans)
    {
        while (true)
        {
            try
            {
                return [.. spans.ToArray().Where(s => s is not null)];
            }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException)
            {
            }
        }
    }
}

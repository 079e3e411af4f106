using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Cruddur.Shared.Observability;
using Cruddur.Tests.Fixtures;
using Cruddur.Worker.Activities;
using OpenTelemetry;
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

        // Other tests run hosts in this process too: find this post's spans by its job id, then its trace.
        var invocation = (await Eventually.ReachesAsync(() => Snapshot(spans).FirstOrDefault(s => s.GetTagItem("cruddur.job_id") as string == jobId),
            span => span is not null, $"a span for the create-activity invocation of job {jobId}"))!;
        var request = Assert.Single(Snapshot(spans), s => s.TraceId == invocation.TraceId && s.Kind == ActivityKind.Server);

        Assert.Equal("create-activity", invocation.DisplayName);
        Assert.Equal(ActivityKind.Consumer, invocation.Kind);
        Assert.Equal("POST", request.GetTagItem("http.request.method"));
        Assert.Equal(request.SpanId, invocation.ParentSpanId);
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

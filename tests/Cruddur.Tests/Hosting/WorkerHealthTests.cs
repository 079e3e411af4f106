using System.Net;
using Cruddur.Tests.Fixtures;

namespace Cruddur.Tests.Hosting;

/// <summary>The Worker's <c>GET /healthz</c> (<c>HEALTH_URL</c>), as a container platform's probe calls it.</summary>
public class WorkerHealthTests(PostgresServer server)
{
    [Fact]
    public async Task The_worker_is_healthy_while_its_server_heartbeats_unhealthy_while_Postgres_is_cut_off_and_healthy_again_after()
    {
        await using var db = await TestDatabase.CreateAsync(server, migrate: false);
        await using var link = new TcpForwarder(server.Host, server.Port);
        link.Start();
        var port = PortAllocator.Free();
        await using var worker = ServiceProcess.StartWorker(
            db.Url.Replace($":{link.TargetPort}/", $":{link.Port}/", StringComparison.Ordinal),
            new Dictionary<string, string?> { ["HEALTH_URL"] = $"http://127.0.0.1:{port}/" });
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var healthz = new Uri($"http://127.0.0.1:{port}/healthz");

        await worker.WaitForOutputAsync("all the dispatchers started", TimeSpan.FromSeconds(90));
        var healthy = await Eventually.ReachesAsync(() => http.GetAsync(healthz), r => r.StatusCode == HttpStatusCode.OK, "a healthy Worker");
        Assert.Contains("Healthy: The Hangfire server heartbeats", await healthy.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        link.Cut();
        var unhealthy = await Eventually.ReachesAsync(() => http.GetAsync(healthz), r => r.StatusCode == HttpStatusCode.ServiceUnavailable, "an unhealthy Worker");
        Assert.Contains("Postgres unreachable", await unhealthy.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        link.Start();
        await Eventually.ReachesAsync(() => http.GetAsync(healthz), r => r.StatusCode == HttpStatusCode.OK, "a healthy Worker after the partition");
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(new Uri($"http://127.0.0.1:{port}/other"))).StatusCode);
    }
}

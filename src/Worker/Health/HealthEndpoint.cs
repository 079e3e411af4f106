using System.Net;
using System.Text;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cruddur.Worker.Health;

/// <summary>
/// <c>GET /healthz</c> on <c>HEALTH_URL</c> (an HttpListener prefix such as <c>http://*:8081/</c>): 200 when every
/// health check passes, 503 with the reason otherwise, for a container platform's HTTP probe (Kubernetes'
/// <c>httpGet</c>, an ECS target group or <c>curl -f</c> in a task's health check). The Worker serves nothing else,
/// so a listener of the base library is enough; it stops with the host.
/// </summary>
internal sealed class HealthEndpoint(string prefix, HealthCheckService health, ILogger<HealthEndpoint> logger) : BackgroundService
{
    public const string UrlSetting = "HEALTH_URL";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var listener = new HttpListener();
        listener.Prefixes.Add(prefix);
        listener.Start();
        logger.LogInformation("Health checks answer at {Prefix}healthz", prefix);
        using var stop = stoppingToken.Register(listener.Stop);
        while (!stoppingToken.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException && stoppingToken.IsCancellationRequested)
            {
                return;
            }
            _ = AnswerAsync(context, stoppingToken);
        }
    }

    private async Task AnswerAsync(HttpListenerContext context, CancellationToken stoppingToken)
    {
        var response = context.Response;
        try
        {
            string body;
            if (context.Request.Url?.AbsolutePath != "/healthz")
            {
                (response.StatusCode, body) = (404, "Not found: the Worker answers GET /healthz only.");
            }
            else
            {
                var report = await health.CheckHealthAsync(stoppingToken);
                response.StatusCode = report.Status == HealthStatus.Healthy ? 200 : 503;
                body = string.Join("\n", report.Entries.Select(e => $"{e.Value.Status}: {e.Value.Description}"));
            }
            var bytes = Encoding.UTF8.GetBytes(body + "\n");
            response.ContentType = "text/plain; charset=utf-8";
            response.ContentLength64 = bytes.Length;
            await response.OutputStream.WriteAsync(bytes, stoppingToken);
        }
        catch (Exception e) when (e is HttpListenerException or IOException or OperationCanceledException)
        {
            // The prober went away or the Worker is stopping: nothing to answer.
        }
        finally
        {
            response.Close();
        }
    }
}

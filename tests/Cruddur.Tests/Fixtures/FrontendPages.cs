using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Cruddur.Tests.Fixtures;

/// <summary>
/// A web server on loopback that plays the frontend's own origin: it serves one page (HTML with a script) on each of
/// its ports, each port an origin of its own, and takes what the page's script reports back to <c>/report</c> on its
/// own origin (a same-origin request, which CORS does not touch).
/// </summary>
public sealed class FrontendPages : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonElement>> _reports = new();

    private FrontendPages(WebApplication app, IReadOnlyList<int> ports)
    {
        _app = app;
        Ports = ports;
    }

    public IReadOnlyList<int> Ports { get; }

    /// <summary>The page's HTML; the same on every port.</summary>
    public string Html { get; set; } = "<!doctype html><title>empty</title>";

    public static Uri Origin(int port) => new($"http://127.0.0.1:{port}");

    public static async Task<FrontendPages> StartAsync(int origins)
    {
        var ports = Enumerable.Range(0, origins).Select(_ => PortAllocator.Free()).ToArray();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls([.. ports.Select(p => Origin(p).AbsoluteUri)]);
        var app = builder.Build();
        var pages = new FrontendPages(app, ports);
        app.MapGet("/", () => Results.Content(pages.Html, "text/html; charset=utf-8"));
        app.MapPost("/report", async (HttpContext http) =>
        {
            var report = await JsonSerializer.DeserializeAsync<JsonElement>(http.Request.Body);
            pages.Completion(http.Connection.LocalPort).TrySetResult(report);
            return Results.NoContent();
        });
        await app.StartAsync();
        return pages;
    }

    /// <summary>Opens the page from <paramref name="port"/>'s origin in headless Chromium and waits for its report.</summary>
    public async Task<JsonElement> RunInChromiumAsync(int port, TimeSpan timeout)
    {
        await using var page = await Chromium.OpenAsync(Origin(port));
        try
        {
            return await Completion(port).Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"the page at {Origin(port)} reported nothing within {timeout.TotalSeconds} s; Chromium said:\n{page.Output}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private TaskCompletionSource<JsonElement> Completion(int port) =>
        _reports.GetOrAdd(port, _ => new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously));
}

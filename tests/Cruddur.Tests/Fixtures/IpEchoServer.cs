using System.Net;
using System.Text;

namespace Cruddur.Tests.Fixtures;

/// <summary>
/// A tiny HTTP server on a free loopback port that plays checkip.amazonaws.com: every GET is answered with
/// <see cref="Answer"/> and <see cref="Status"/>. <see cref="Down"/> stops listening, so requests are refused.
/// One per test: <c>await using var echo = IpEchoServer.Start("203.0.113.7\n");</c>
/// </summary>
public sealed class IpEchoServer : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;
    private int _requests;

    private IpEchoServer(string answer)
    {
        Answer = answer;
        var port = PortAllocator.Free();
        Url = $"http://127.0.0.1:{port}/";
        _listener.Prefixes.Add(Url);
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public string Url { get; }

    /// <summary>The body every request gets.</summary>
    public string Answer { get; set; }

    public HttpStatusCode Status { get; set; } = HttpStatusCode.OK;

    /// <summary>Requests answered so far.</summary>
    public int Requests => Volatile.Read(ref _requests);

    public static IpEchoServer Start(string answer) => new(answer);

    /// <summary>Stops listening: from now on connections are refused, as when the echo service is down.</summary>
    public void Down()
    {
        if (_listener.IsListening)
        {
            _listener.Stop();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Down();
        _listener.Close();
        await _loop;
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return; // stopped
            }
            Interlocked.Increment(ref _requests);
            var body = Encoding.UTF8.GetBytes(Answer);
            context.Response.StatusCode = (int)Status;
            context.Response.ContentType = "text/plain";
            context.Response.ContentLength64 = body.Length;
            await context.Response.OutputStream.WriteAsync(body);
            context.Response.Close();
        }
    }
}

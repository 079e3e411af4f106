using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cruddur.Tests.Fixtures;

/// <summary>
/// The Api hosted in the test process (ASP.NET Core's test server) against a test database. The type argument is any
/// public type of the Api: it only names the assembly whose entry point is run. Without a Cognito pool in
/// <c>settings</c> it takes anonymous posts, as an operator allows them (<c>ALLOW_ANONYMOUS_POSTS=true</c>).
/// </summary>
public sealed class ApiFactory(
    string connectionUrl, IReadOnlyDictionary<string, string?>? settings = null, Action<IServiceCollection>? services = null) : WebApplicationFactory<Cruddur.Api.Activities.AcceptedActivity>
{
    public LogCollector Logs { get; } = new();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("CONNECTION_URL", connectionUrl);
        foreach (var (key, value) in ServiceProcess.AnonymousPostsUnlessSignedIn(settings ?? new Dictionary<string, string?>()))
        {
            builder.UseSetting(key, value);
        }
        builder.ConfigureLogging(logging => logging.AddProvider(Logs));
        if (services is not null)
        {
            builder.ConfigureTestServices(services);
        }
    }
}

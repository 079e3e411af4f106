using Cruddur.Shared.Activities;
using Cruddur.Shared.Observability;
using Cruddur.Worker.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Cruddur.Worker;

public static class Extensions
{
    /// <summary>The Worker: the function host with every function in this assembly, and what they need.</summary>
    public static IHostApplicationBuilder AddCruddurWorker(this IHostApplicationBuilder builder)
    {
        builder.Logging.AddCruddurConsole(builder.Configuration);
        builder.AddFunctionHost(FunctionCatalog.TypesIn(typeof(Extensions).Assembly));
        builder.Services.AddSingleton<ActivityStore>();
        return builder;
    }
}

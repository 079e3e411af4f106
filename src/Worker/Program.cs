using Cruddur.Worker;
using Cruddur.Worker.Hosting;
using Microsoft.Extensions.Hosting;

if (args is ["migrate", .. var options])
{
    return await MigrateCommand.RunAsync(options);
}

try
{
    var builder = Host.CreateApplicationBuilder(args);
    builder.AddCruddurWorker();
    await builder.Build().RunAsync();
    return 0;
}
catch (Exception e) when (e is FunctionDeclarationException or InvalidOperationException or FormatException)
{
    await Console.Error.WriteLineAsync($"Cruddur.Worker did not start: {e.Message}");
    return 1;
}

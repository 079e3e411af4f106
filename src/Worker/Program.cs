using Cruddur.Shared.Configuration;
using Cruddur.Worker;
using Cruddur.Worker.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

if (args is ["migrate", .. var options])
{
    return await MigrateCommand.RunAsync(options);
}

try
{
    var builder = Host.CreateApplicationBuilder([.. args, Settings.ReadOnceArgument]);
    builder.AddCruddurWorker();
    await builder.Build().RunAsync();
    return 0;
}
// A bad setting (OptionsValidationException, or the binder's InvalidOperationException) names the setting; a database that
// refuses the Worker for good (a wrong password, a missing database: not retried) names its error.
catch (Exception e) when (e is FunctionDeclarationException or OptionsValidationException or InvalidOperationException or FormatException
    or Npgsql.NpgsqlException)
{
    await Console.Error.WriteLineAsync($"Cruddur.Worker did not start: {e.Message}");
    return 1;
}

using Cruddur.Api;
using Microsoft.Extensions.Options;

try
{
    var builder = WebApplication.CreateBuilder(args);
    builder.AddCruddurApi();

    var app = builder.Build();
    app.MapCruddurApi();
    await app.RunAsync();
    return 0;
}
// A bad setting (OptionsValidationException, or the binder's InvalidOperationException) names the setting.
catch (Exception e) when (e is OptionsValidationException or InvalidOperationException or FormatException)
{
    await Console.Error.WriteLineAsync($"Cruddur.Api did not start: {e.Message}");
    return 1;
}

using System.Text;
using Cruddur.CognitoTrigger;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

// bin/cognito-trigger-invoke EVENT.json: runs the handler here, as `sam local invoke` would, and prints the response.
// Lambda never calls this: it calls PostConfirmationFunction.HandleAsync.
if (args is not [var path])
{
    await Console.Error.WriteLineAsync("usage: Cruddur.CognitoTrigger EVENT.json");
    return 2;
}
if (!File.Exists(path))
{
    await Console.Error.WriteLineAsync($"no such event file: {path}");
    return 2;
}

var configuration = new ConfigurationBuilder().AddEnvironmentVariables().Build();
using var loggers = PostConfirmationFunction.CreateLoggerFactory(configuration);
try
{
    var forwarder = SignUpForwarder.FromConfiguration(configuration, loggers.CreateLogger<SignUpForwarder>());
    await using var input = File.OpenRead(path);
    await using var response = await forwarder.HandleAsync(input);
    using var reader = new StreamReader(response, Encoding.UTF8);
    Console.WriteLine(await reader.ReadToEndAsync());
    return 0;
}
catch (Exception e) when (e is SignUpNotQueuedException or InvalidOperationException or ArgumentException)
{
    // Lambda would answer {"errorType": ..., "errorMessage": ...}: say the same on stderr.
    await Console.Error.WriteLineAsync($"{e.GetType().Name}: {e.Message}");
    return 1;
}

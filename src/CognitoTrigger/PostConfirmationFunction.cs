using Cruddur.Shared.Observability;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Cruddur.CognitoTrigger;

/// <summary>
/// The Lambda entry point: handler <c>Cruddur.CognitoTrigger::Cruddur.CognitoTrigger.PostConfirmationFunction::HandleAsync</c>
/// on the managed <c>dotnet10</c> runtime. Stream in, stream out: that signature needs no Amazon.Lambda serializer package.
/// </summary>
public static class PostConfirmationFunction
{
    public const string Handler = "Cruddur.CognitoTrigger::Cruddur.CognitoTrigger.PostConfirmationFunction::HandleAsync";

    // One SQS client (and its connections) per Lambda container, reused by every invocation it serves. A missing
    // setting is not cached: each invocation reports it until the configuration is fixed.
    private static readonly Lazy<SignUpForwarder> Forwarder = new(FromEnvironment, LazyThreadSafetyMode.PublicationOnly);

    /// <summary>Forwards the Cognito event and returns it unchanged.</summary>
    public static Task<Stream> HandleAsync(Stream input) => Forwarder.Value.HandleAsync(input);

    private static SignUpForwarder FromEnvironment()
    {
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().Build();
        return SignUpForwarder.FromConfiguration(configuration, CreateLoggerFactory(configuration).CreateLogger<SignUpForwarder>());
    }

    /// <summary>
    /// Console logs as the Api and the Worker write them, all on stderr: Lambda sends both streams to CloudWatch,
    /// and <c>bin/cognito-trigger-invoke</c> keeps stdout for the response.
    /// </summary>
    internal static ILoggerFactory CreateLoggerFactory(IConfiguration configuration) => LoggerFactory.Create(logging =>
    {
        logging.AddCruddurConsole(configuration);
        logging.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
    });
}

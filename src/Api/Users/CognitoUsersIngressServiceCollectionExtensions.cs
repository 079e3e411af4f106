using Amazon.SQS;
using Cruddur.Shared.Aws;
using Cruddur.Shared.Configuration;
using Cruddur.Shared.Resilience;
using Polly;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Cruddur.Api.Users;

public static class CognitoUsersIngressServiceCollectionExtensions
{
    /// <summary>
    /// Registers the SQS ingress for Cognito sign-ups when <c>COGNITO_USERS_QUEUE_URL</c> is set (it needs
    /// <c>AddCruddurData</c> and <c>AddCruddurJobStorage</c>); otherwise only a log line saying it is off.
    /// The SQS client uses <c>AWS_REGION</c>, <c>AWS_ENDPOINT_URL</c> and the SDK's default credentials,
    /// unless an <see cref="IAmazonSQS"/> is already registered.
    /// </summary>
    public static IServiceCollection AddCognitoUsersIngress(
        this IServiceCollection services,
        IConfiguration configuration,
        Action<CognitoUsersIngressOptions>? configure = null)
    {
        var options = Settings.Read<CognitoUsersIngressOptions>(configuration);
        configure?.Invoke(options);
        Settings.Validate(options);
        if (options.QueueUrl is null)
        {
            services.AddHostedService<DisabledNotice>();
            return services;
        }
        services.AddSingleton(options);
        services.TryAddSingleton<IAmazonSQS>(_ => new AmazonSQSClient(AwsClientConfiguration.Apply(new AmazonSQSConfig(), configuration)));
        services.AddResiliencePipeline(Retries.SqsPoll, (pipeline, context) => pipeline.AddBoundedRetry(
            new RetryBounds
            {
                MaxRetryAttempts = int.MaxValue, // a poller never gives up; a success starts its pauses over
                FirstDelay = options.FirstBackoff,
                MaxDelay = options.MaxBackoff,
                TotalTimeout = Timeout.InfiniteTimeSpan,
            },
            context.ServiceProvider.GetRequiredService<ILogger<CognitoUsersIngress>>(), "SQS poll",
            CognitoUsersIngress.ShouldPause,
            pause => CognitoUsersIngress.LogPause(context.ServiceProvider.GetRequiredService<ILogger<CognitoUsersIngress>>(), pause)));
        services.AddHostedService<CognitoUsersIngress>();
        return services;
    }

    /// <summary>Says once, at startup, that sign-ups are not read from SQS in this process.</summary>
    private sealed class DisabledNotice(ILogger<CognitoUsersIngress> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            logger.LogInformation("Cognito users ingress disabled: {QueueUrlKey} is not set", CognitoUsersIngressOptions.QueueUrlKey);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

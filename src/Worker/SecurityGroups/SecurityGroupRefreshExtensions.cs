using Amazon.EC2;
using Amazon.Runtime;
using Cruddur.Shared.Aws;
using Cruddur.Shared.Configuration;
using Cruddur.Shared.Resilience;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;

namespace Cruddur.Worker.SecurityGroups;

/// <summary>Wires the security group refresh: the EC2 client, the echo HttpClient, options, the retry pipeline, the refresher.</summary>
public static class SecurityGroupRefreshExtensions
{
    /// <summary>The named HttpClient that reads the public IP.</summary>
    public const string EchoClientName = "public-ip-echo";

    public static IServiceCollection AddSecurityGroupRefresh(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);

        services.AddOptions<SecurityGroupRefreshOptions>()
            .Configure(options => Settings.WithoutBlanks(configuration).Bind(options))
            .PostConfigure(o =>
            {
                o.GroupId = o.GroupId?.Trim();
                o.RuleId = o.RuleId?.Trim();
            })
            .Validate(o => o.Port is > 0 and <= 65535, "DB_PORT must be a TCP port (1-65535).")
            .Validate(o => o.PublicIpEchoUrl.IsAbsoluteUri && o.PublicIpEchoUrl.Scheme is "http" or "https", "PUBLIC_IP_ECHO_URL must be an http(s) URL.")
            .Validate(
                // Empty turns the timer off (the function catalog reads the same setting).
                o => string.IsNullOrWhiteSpace(o.Cron)
                    || Cronos.CronExpression.TryParse(o.Cron, out _) || Cronos.CronExpression.TryParse(o.Cron, Cronos.CronFormat.IncludeSeconds, out _),
                "SG_REFRESH_CRON must be a cron expression: five fields (*/5 * * * *), or six with seconds first.")
            .ValidateOnStart();

        services.AddSingleton<IAmazonEC2>(_ => CreateEc2Client(configuration));
        // The SDK resolves credentials when a client is built: a Worker with the refresh off needs none.
        services.AddSingleton(provider => new Lazy<IAmazonEC2>(provider.GetRequiredService<IAmazonEC2>));

        services.AddHttpClient(EchoClientName, client => client.DefaultRequestHeaders.UserAgent.ParseAdd("cruddur-worker"));
        // Registered before the function host's database startup (Extensions.AddCruddurWorker), so that it runs first.
        services.AddHostedService<SecurityGroupStartupRefresh>();

        services.AddResiliencePipeline(Retries.Ec2, (pipeline, context) => pipeline.AddBoundedRetry(
            context.ServiceProvider.GetRequiredService<IOptions<SecurityGroupRefreshOptions>>().Value.Retry,
            context.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(SecurityGroupRuleRefresher).FullName!),
            "Security group refresh"));

        services.AddSingleton<SecurityGroupRuleRefresher>();
        return services;
    }

    /// <summary>An EC2 client for the configured region and endpoint; credentials from the SDK's chain unless given.</summary>
    internal static AmazonEC2Client CreateEc2Client(IConfiguration configuration, AWSCredentials? credentials = null)
    {
        // The Polly pipeline is the one retry layer: SDK retries inside it would multiply the attempts.
        var config = AwsClientConfiguration.Apply(new AmazonEC2Config { MaxErrorRetry = 0 }, configuration);
        return credentials is null ? new AmazonEC2Client(config) : new AmazonEC2Client(credentials, config);
    }
}

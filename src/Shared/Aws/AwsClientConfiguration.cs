using Amazon;
using Amazon.Runtime;
using Microsoft.Extensions.Configuration;

namespace Cruddur.Shared.Aws;

/// <summary>
/// Points an AWS SDK client at the configured region (<c>AWS_REGION</c>) and, when <c>AWS_ENDPOINT_URL</c>
/// is set, at that endpoint (an emulator such as moto_server). Credentials come from the SDK's default chain.
/// </summary>
public static class AwsClientConfiguration
{
    public const string DefaultRegion = "us-east-1";

    /// <summary>Applies region and endpoint to <paramref name="config"/> and returns it.</summary>
    public static TConfig Apply<TConfig>(TConfig config, IConfiguration configuration)
        where TConfig : ClientConfig
    {
        ArgumentNullException.ThrowIfNull(config);
        var endpoint = configuration["AWS_ENDPOINT_URL"];
        var region = configuration["AWS_REGION"] ?? configuration["AWS_DEFAULT_REGION"] ?? DefaultRegion;
        if (!string.IsNullOrWhiteSpace(endpoint))
        {
            // The SDK signs requests for AuthenticationRegion; ServiceURL alone would drop the region.
            config.ServiceURL = endpoint;
            config.AuthenticationRegion = region;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(region);
        }
        return config;
    }
}

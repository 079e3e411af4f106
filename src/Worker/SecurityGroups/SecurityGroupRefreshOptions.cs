using Cruddur.Shared.Resilience;
using Microsoft.Extensions.Configuration;

namespace Cruddur.Worker.SecurityGroups;

/// <summary>
/// Settings of the refresh-rds-sg-rule timer, bound from environment variables. The refresh is enabled only
/// when both <c>DB_SG_ID</c> and <c>DB_SG_RULE_ID</c> are set.
/// </summary>
public sealed class SecurityGroupRefreshOptions
{
    public const string DefaultEchoUrl = "https://checkip.amazonaws.com";
    public const string DefaultCron = "*/5 * * * *";
    public const string DefaultDescription = "cruddur-worker";
    public const int DefaultPort = 5432;

    /// <summary><c>DB_SG_ID</c>: the security group of the database (sg-...).</summary>
    [ConfigurationKeyName("DB_SG_ID")]
    public string? GroupId { get; set; }

    /// <summary><c>DB_SG_RULE_ID</c>: the ingress rule kept at the current public IP (sgr-...).</summary>
    [ConfigurationKeyName("DB_SG_RULE_ID")]
    public string? RuleId { get; set; }

    /// <summary><c>PUBLIC_IP_ECHO_URL</c>: answers with this machine's public IPv4 address as plain text.</summary>
    [ConfigurationKeyName("PUBLIC_IP_ECHO_URL")]
    public Uri PublicIpEchoUrl { get; set; } = new(DefaultEchoUrl);

    /// <summary><c>DB_PORT</c>: the port the rule opens (from and to).</summary>
    [ConfigurationKeyName("DB_PORT")]
    public int Port { get; set; } = DefaultPort;

    /// <summary><c>SG_RULE_DESCRIPTION</c>: the rule's description, so the console shows who set it.</summary>
    [ConfigurationKeyName("SG_RULE_DESCRIPTION")]
    public string Description { get; set; } = DefaultDescription;

    /// <summary><c>SG_REFRESH_CRON</c>: when the host runs the refresh (it also runs once at startup).</summary>
    [ConfigurationKeyName("SG_REFRESH_CRON")]
    public string Cron { get; set; } = DefaultCron;

    /// <summary>Bounds of the retry around each call to the echo URL and to EC2 (not read from configuration).</summary>
    /// <summary>How hard a refresh tries before it gives up until the next tick: well inside the 5-minute tick.</summary>
    public RetryBounds Retry { get; set; } = new()
    {
        MaxRetryAttempts = 4,
        FirstDelay = TimeSpan.FromSeconds(1),
        MaxDelay = TimeSpan.FromSeconds(15),
        AttemptTimeout = TimeSpan.FromSeconds(10), // one HTTP request to the echo URL or to EC2
        TotalTimeout = TimeSpan.FromSeconds(60),
    };

    public bool Enabled => !string.IsNullOrWhiteSpace(GroupId) && !string.IsNullOrWhiteSpace(RuleId);
}

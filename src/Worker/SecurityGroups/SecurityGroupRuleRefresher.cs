using System.Text;
using Amazon.EC2;
using Amazon.EC2.Model;
using Cruddur.Shared.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly.Registry;

namespace Cruddur.Worker.SecurityGroups;

/// <summary>
/// Keeps the database's security group rule at this machine's public IP: reads the IP from the echo URL,
/// reads the rule, and modifies it only when its CIDR is not <c>IP/32</c>. The seed's <c>rds-update-sg-rule</c>,
/// run by a timer instead of by hand.
/// </summary>
public sealed partial class SecurityGroupRuleRefresher(
    Lazy<IAmazonEC2> ec2,
    IHttpClientFactory httpClients,
    ResiliencePipelineProvider<string> pipelines,
    IOptions<SecurityGroupRefreshOptions> options,
    ILogger<SecurityGroupRuleRefresher> logger)
{
    // An IPv4 address with a line break fits easily; anything longer is not an address.
    private const int MaxAnswerBytes = 64;

    private int _disabledLogged;

    /// <summary>
    /// Refreshes the rule once. Echo, network and AWS failures are retried, logged and returned as
    /// <see cref="SecurityGroupRefreshResult.Failed"/>; only cancellation of <paramref name="cancellationToken"/> throws.
    /// </summary>
    public async Task<SecurityGroupRefreshResult> RefreshAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (!settings.Enabled)
        {
            // Once per process at Information: every tick would repeat the same news.
            if (Interlocked.Exchange(ref _disabledLogged, 1) == 0)
            {
                LogDisabled(logger);
            }
            else
            {
                LogStillDisabled(logger);
            }
            return new SecurityGroupRefreshResult.Disabled();
        }

        var pipeline = pipelines.GetPipeline(Retries.Ec2);

        string answer;
        try
        {
            answer = await pipeline.ExecuteAsync(ReadEchoAsync, settings.PublicIpEchoUrl, cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            var reason = $"could not read the public IP from {settings.PublicIpEchoUrl}: {TransientErrors.Describe(e)}";
            LogFailed(logger, settings.RuleId!, reason);
            return new SecurityGroupRefreshResult.Failed(reason);
        }

        if (!PublicIpv4.TryParse(answer, out var ip, out var rejection))
        {
            var reason = $"{settings.PublicIpEchoUrl} did not answer with an IPv4 address: {rejection}";
            LogRejected(logger, settings.RuleId!, reason);
            return new SecurityGroupRefreshResult.Rejected(reason);
        }
        var wanted = $"{ip}/32";

        try
        {
            var rule = await pipeline.ExecuteAsync(
                static (state, token) => state.Self.DescribeAsync(state.Settings, token), (Self: this, Settings: settings), cancellationToken);
            if (Unusable(rule, settings) is { } problem)
            {
                LogFailed(logger, settings.RuleId!, problem);
                return new SecurityGroupRefreshResult.Failed(problem);
            }
            var current = rule!.CidrIpv4!;
            if (current == wanted)
            {
                LogUnchanged(logger, settings.RuleId!, current);
                return new SecurityGroupRefreshResult.Unchanged(current);
            }

            await pipeline.ExecuteAsync(
                static (state, token) => state.Self.ModifyAsync(state.Settings, state.Cidr, token), (Self: this, Settings: settings, Cidr: wanted), cancellationToken);
            LogUpdated(logger, settings.RuleId!, settings.GroupId!, current, wanted);
            return new SecurityGroupRefreshResult.Updated(current, wanted);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            var reason = $"EC2 failed: {TransientErrors.Describe(e)}";
            LogFailed(logger, settings.RuleId!, reason);
            return new SecurityGroupRefreshResult.Failed(reason);
        }
    }

    private async ValueTask<string> ReadEchoAsync(Uri url, CancellationToken cancellationToken)
    {
        using var client = httpClients.CreateClient(SecurityGroupRefreshExtensions.EchoClientName);
        using var response = await client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        response.EnsureSuccessStatusCode();
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[MaxAnswerBytes + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await body.ReadAsync(buffer.AsMemory(length), cancellationToken)) > 0)
        {
            length += read;
        }
        // Too long to be an address: hand on a prefix that the parser rejects.
        return Encoding.UTF8.GetString(buffer, 0, length);
    }

    private async ValueTask<SecurityGroupRule?> DescribeAsync(SecurityGroupRefreshOptions settings, CancellationToken cancellationToken)
    {
        var response = await ec2.Value.DescribeSecurityGroupRulesAsync(new DescribeSecurityGroupRulesRequest
        {
            SecurityGroupRuleIds = [settings.RuleId!],
            Filters = [new Filter("group-id", [settings.GroupId!])],
        }, cancellationToken);
        return response.SecurityGroupRules?.FirstOrDefault(r => r.SecurityGroupRuleId == settings.RuleId);
    }

    private async ValueTask<bool> ModifyAsync(SecurityGroupRefreshOptions settings, string cidr, CancellationToken cancellationToken)
    {
        // The seed's shape: tcp, the database port from and to, one IPv4 /32, a description.
        await ec2.Value.ModifySecurityGroupRulesAsync(new ModifySecurityGroupRulesRequest
        {
            GroupId = settings.GroupId,
            SecurityGroupRules =
            [
                new SecurityGroupRuleUpdate
                {
                    SecurityGroupRuleId = settings.RuleId,
                    SecurityGroupRule = new SecurityGroupRuleRequest
                    {
                        IpProtocol = "tcp",
                        FromPort = settings.Port,
                        ToPort = settings.Port,
                        CidrIpv4 = cidr,
                        Description = settings.Description,
                    },
                },
            ],
        }, cancellationToken);
        return true;
    }

    /// <summary>Why the rule must not be rewritten, or null when it is an IPv4 ingress rule of the group.</summary>
    private static string? Unusable(SecurityGroupRule? rule, SecurityGroupRefreshOptions settings) => rule switch
    {
        null => $"rule {settings.RuleId} was not found in security group {settings.GroupId}",
        { IsEgress: true } => $"rule {settings.RuleId} is an egress rule; DB_SG_RULE_ID must name the ingress rule for the database port",
        { CidrIpv4: null or "" } => $"rule {settings.RuleId} has no IPv4 CIDR (it names a group, a prefix list or IPv6); it is left as it is",
        _ => null,
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "refresh-rds-sg-rule is off: set DB_SG_ID and DB_SG_RULE_ID to keep the database's security group rule at this machine's public IP")]
    private static partial void LogDisabled(ILogger logger);

    [LoggerMessage(Level = LogLevel.Debug, Message = "refresh-rds-sg-rule is off (DB_SG_ID or DB_SG_RULE_ID unset)")]
    private static partial void LogStillDisabled(ILogger logger);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Security group rule {RuleId} already admits {Cidr}; nothing to change")]
    private static partial void LogUnchanged(ILogger logger, string ruleId, string cidr);

    [LoggerMessage(Level = LogLevel.Information, Message = "Security group rule {RuleId} in {GroupId} changed from {OldCidr} to {NewCidr}")]
    private static partial void LogUpdated(ILogger logger, string ruleId, string groupId, string oldCidr, string newCidr);

    [LoggerMessage(Level = LogLevel.Error, Message = "Security group rule {RuleId} left untouched: {Reason}")]
    private static partial void LogRejected(ILogger logger, string ruleId, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Security group rule {RuleId} not refreshed: {Reason}")]
    private static partial void LogFailed(ILogger logger, string ruleId, string reason);
}

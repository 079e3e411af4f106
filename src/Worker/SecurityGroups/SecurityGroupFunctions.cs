using Cruddur.Worker.Hosting;

namespace Cruddur.Worker.SecurityGroups;

public sealed class SecurityGroupFunctions(SecurityGroupRuleRefresher refresher)
{
    /// <summary>
    /// Keeps the RDS security-group rule at this machine's public IP (the seed's rds-update-sg-rule), on
    /// <c>SG_REFRESH_CRON</c>; each Worker also refreshes it when it starts, before it needs the database
    /// (<see cref="SecurityGroupStartupRefresh"/>). The refresher logs what it did and never throws.
    /// </summary>
    [Function("refresh-rds-sg-rule")]
    public Task RunAsync([TimerTrigger("%SG_REFRESH_CRON%")] TimerInfo timer, FunctionContext context) =>
        refresher.RefreshAsync(context.CancellationToken);
}

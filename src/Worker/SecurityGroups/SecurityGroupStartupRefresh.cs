using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Cruddur.Worker.SecurityGroups;

/// <summary>
/// Refreshes the rule once when the Worker starts, before it waits for the database: the timer function runs as a job
/// stored in the database the rule guards, so after this machine's IP changed (a workspace restarted) it could never run.
/// </summary>
internal sealed class SecurityGroupStartupRefresh(SecurityGroupRuleRefresher refresher, IOptions<SecurityGroupRefreshOptions> options) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.Enabled)
        {
            await refresher.RefreshAsync(cancellationToken); // logs what it did; a failure leaves the timer to try again
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

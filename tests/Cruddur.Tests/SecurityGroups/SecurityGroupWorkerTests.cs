using Cruddur.Tests.Fixtures;

namespace Cruddur.Tests.SecurityGroups;

/// <summary>The refresh-rds-sg-rule timer in a real Worker process.</summary>
public class SecurityGroupWorkerTests(PostgresServer server, MotoServer moto)
{
    [Fact]
    public async Task A_worker_pointed_at_ec2_and_an_ip_echo_sets_the_rule_to_the_echoed_ip_within_seconds_of_starting()
    {
        await using var db = await TestDatabase.CreateAsync(server, migrate: false);
        await using var echo = IpEchoServer.Start("203.0.113.42\n");
        var (groupId, ruleId) = await MotoSecurityGroups.CreateAsync(moto);
        var environment = new Dictionary<string, string?>(moto.Environment)
        {
            ["DB_SG_ID"] = groupId,
            ["DB_SG_RULE_ID"] = ruleId,
            ["PUBLIC_IP_ECHO_URL"] = echo.Url,
        };

        await using var worker = ServiceProcess.StartWorker(db.Url, environment);

        var cidr = await Eventually.ReachesAsync(async () => (await MotoSecurityGroups.RuleAsync(moto, ruleId)).CidrIpv4,
            rule => rule == "203.0.113.42/32" || worker.HasExited, "the rule pointed at 203.0.113.42/32 (or the Worker exited)");

        Assert.True(cidr == "203.0.113.42/32", $"rule is {cidr}; worker output:\n{worker.Output}");
        Assert.Contains("Timer refresh-rds-sg-rule scheduled: '*/5 * * * *'", worker.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("testing-secret", worker.Output, StringComparison.Ordinal);
    }
}

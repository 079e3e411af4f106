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
        // Then, past the database's startup, the timer that keeps it current.
        await Eventually.ReachesAsync(() => Task.FromResult(worker.Output.Contains("Timer refresh-rds-sg-rule scheduled: '*/5 * * * *'", StringComparison.Ordinal) || worker.HasExited),
            scheduled => scheduled, "the timer scheduled");
        Assert.Contains("Timer refresh-rds-sg-rule scheduled: '*/5 * * * *'", worker.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("testing-secret", worker.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_worker_shut_out_of_its_database_points_the_rule_at_its_new_ip_before_it_waits_for_the_database()
    {
        await using var db = await TestDatabase.CreateAsync(server, migrate: false);
        // The rule still admits the old IP, so the database does not answer this machine: a forwarder that refuses connections.
        await using var shutOut = new TcpForwarder(server.Host, server.Port);
        var unreachable = db.Url.Replace($":{server.Port}/", $":{shutOut.Port}/", StringComparison.Ordinal);
        await using var echo = IpEchoServer.Start("198.51.100.7\n");
        var (groupId, ruleId) = await MotoSecurityGroups.CreateAsync(moto);
        var environment = new Dictionary<string, string?>(moto.Environment)
        {
            ["DB_SG_ID"] = groupId,
            ["DB_SG_RULE_ID"] = ruleId,
            ["PUBLIC_IP_ECHO_URL"] = echo.Url,
        };

        await using var worker = ServiceProcess.StartWorker(unreachable, environment);

        var cidr = await Eventually.ReachesAsync(async () => (await MotoSecurityGroups.RuleAsync(moto, ruleId)).CidrIpv4,
            rule => rule == "198.51.100.7/32" || worker.HasExited, "the rule pointed at 198.51.100.7/32 (or the Worker exited)");
        Assert.True(cidr == "198.51.100.7/32", $"rule is {cidr}; worker output:\n{worker.Output}");
        Assert.False(worker.HasExited); // still waiting for the database, which the new rule lets it reach
    }
}

using Cruddur.Tests.Fixtures;
using Cruddur.Tests.SecurityGroups;

namespace Cruddur.Tests.Chaos;

/// <summary>
/// Two Apis and three Workers on one database under load: every post stored once, and the security-group
/// timer runs once per tick however many Workers there are.
/// </summary>
[Trait("Category", "Chaos")]
[Collection(ChaosSettings.Serial)]
public sealed class ManyProcessesTests(PostgresServer server, MotoServer moto)
{
    private const string EveryTwoSeconds = "*/2 * * * * *";

    /// <summary>The reason Hangfire gives a recurring job's run made by <c>Trigger</c> (RunOnStartup), not by a tick.</summary>
    private const string StartupTrigger = "Triggered using recurring job manager";

    [Fact]
    public async Task Two_Apis_and_three_Workers_store_every_post_once_and_refresh_the_rule_once_per_tick()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var echo = IpEchoServer.Start("203.0.113.7\n");
        var (groupId, ruleId) = await MotoSecurityGroups.CreateAsync(moto);
        var workerSettings = new Dictionary<string, string?>(ChaosSettings.Worker());
        foreach (var (key, value) in moto.Environment)
        {
            workerSettings[key] = value;
        }
        workerSettings["DB_SG_ID"] = groupId;
        workerSettings["DB_SG_RULE_ID"] = ruleId;
        workerSettings["PUBLIC_IP_ECHO_URL"] = echo.Url;
        workerSettings["SG_REFRESH_CRON"] = EveryTwoSeconds;

        var workers = Enumerable.Range(0, 3).Select(_ => ServiceProcess.StartWorker(db.Url, workerSettings)).ToList();
        var ports = new[] { PortAllocator.Free(), PortAllocator.Free() };
        var apis = new List<ServiceProcess>();
        try
        {
            foreach (var port in ports)
            {
                apis.Add(await ServiceProcess.StartApiAsync(db.Url, port, ChaosSettings.Api()));
            }
            var load = new ActivityLoad([.. ports.Select(ProcessCrashTests.Local)], "5-many-processes", ChaosSettings.Posts);

            var posting = load.RunAsync();
            await Task.Delay(4000);
            echo.Answer = "203.0.113.8\n"; // the machine's address changes mid-run: a later tick moves the rule
            await posting;
            // Six ticks after the address changed, however long the loaded machine takes to run them.
            var ticksBefore = (await TicksAsync(db)).Count(r => !r.Reasons.Contains(StartupTrigger, StringComparison.Ordinal));
            await Eventually.ReachesAsync(async () => (await TicksAsync(db)).Count(r => !r.Reasons.Contains(StartupTrigger, StringComparison.Ordinal)),
                ticks => ticks >= ticksBefore + 6, "six more ticks of the 2-second timer (ticks so far)", TimeSpan.FromSeconds(120));

            var runs = await TicksAsync(db);
            var startupRuns = runs.Where(r => r.Reasons.Contains(StartupTrigger, StringComparison.Ordinal)).Sum(r => r.Runs);
            var ticks = runs.Where(r => !r.Reasons.Contains(StartupTrigger, StringComparison.Ordinal)).ToList();
            var cidr = await Eventually.ReachesAsync(async () => (await MotoSecurityGroups.RuleAsync(moto, ruleId)).CidrIpv4, c => c == "203.0.113.8/32", "the rule moved to the new address");
            var counts = (await ChaosCounts.SettleAsync(db, load, "(5) 2 Apis + 3 Workers", TimeSpan.FromSeconds(120),
                $"Workers alive {workers.Count(w => !w.HasExited)}/3, timer ticks {ticks.Count} every 2 s, " +
                $"ticks run more than once {ticks.Count(t => t.Runs > 1)}, runs at Workers' startup {startupRuns}, IP echo requests {echo.Requests}, rule now {cidr}")).Report();

            Assert.Empty(load.Unexpected);
            Assert.Equal(counts.Sent, counts.Acknowledged);
            Assert.Equal(0, counts.Lost);
            Assert.Equal(0, counts.Duplicates);
            Assert.Equal(counts.Acknowledged, counts.Stored);
            Assert.All(ticks, tick => Assert.True(tick.Runs == 1, $"the tick at {tick.Time} ran {tick.Runs} times: {tick.Reasons}"));
            Assert.Equal(0, startupRuns); // each Worker refreshes the rule itself as it starts (SecurityGroupStartupRefresh), not as a job
            Assert.Equal("203.0.113.8/32", cidr);
        }
        finally
        {
            foreach (var process in apis.Concat(workers))
            {
                await process.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// The timer's runs by the tick they were scheduled for: Hangfire stamps each job of a recurring job with
    /// its time ("Time" parameter), and each job's first state says who made it: the scheduler's tick, or a
    /// Worker's start-up trigger (RunOnStartup), which is not a tick.
    /// </summary>
    private static async Task<List<(string Time, long Runs, string Reasons)>> TicksAsync(TestDatabase db)
    {
        var ticks = new List<(string, long, string)>();
        await using var command = db.DataSource.CreateCommand("""
            SELECT p.value, count(*), string_agg(coalesce(first_state.reason, '-'), '; ')
            FROM hangfire.jobparameter p
            JOIN hangfire.jobparameter r ON r.jobid = p.jobid
            CROSS JOIN LATERAL (SELECT s.reason FROM hangfire.state s WHERE s.jobid = p.jobid ORDER BY s.id LIMIT 1) first_state
            WHERE p.name = 'Time' AND r.name = 'RecurringJobId' AND r.value = '"refresh-rds-sg-rule"'
            GROUP BY p.value ORDER BY p.value
            """);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            ticks.Add((reader.GetString(0), reader.GetInt64(1), reader.GetString(2)));
        }
        return ticks;
    }
}

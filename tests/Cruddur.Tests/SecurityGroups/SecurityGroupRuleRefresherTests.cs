using System.Collections.Concurrent;
using System.Net;
using Amazon.EC2;
using Amazon.Runtime;
using Cruddur.Tests.Fixtures;
using Cruddur.Worker.SecurityGroups;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using static Cruddur.Worker.SecurityGroups.SecurityGroupRefreshResult;

namespace Cruddur.Tests.SecurityGroups;

/// <summary>The refresh-rds-sg-rule work against moto_server and a local IP echo, wired as the Worker wires it.</summary>
public sealed class SecurityGroupRuleRefresherTests(MotoServer moto) : IAsyncDisposable
{
    private const string EchoedIp = "203.0.113.7";
    private const int FastRetries = 3;

    private readonly IpEchoServer _echo = IpEchoServer.Start(EchoedIp + "\n");
    private readonly LogCollector _logs = new();
    private readonly ConcurrentQueue<string> _ec2Calls = new();
    private readonly List<ServiceProvider> _providers = [];

    [Fact]
    public async Task Refresh_moves_the_rule_to_the_echoed_ip_with_the_seeds_shape()
    {
        var (group, rule) = await MotoSecurityGroups.CreateAsync(moto);

        var result = await Refresher(group, rule).RefreshAsync(TestContext.Current.CancellationToken);

        Assert.Equal(new Updated("192.0.2.1/32", EchoedIp + "/32"), result);
        var now = await MotoSecurityGroups.RuleAsync(moto, rule);
        Assert.Equal((EchoedIp + "/32", "tcp", 5432, 5432, "cruddur-worker", false),
            (now.CidrIpv4, now.IpProtocol, now.FromPort, now.ToPort, now.Description, now.IsEgress));
        Assert.Contains(_logs.Lines, l => l.Level == LogLevel.Information && l.Message.Contains("from 192.0.2.1/32 to 203.0.113.7/32", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Port_and_description_come_from_db_port_and_sg_rule_description()
    {
        var (group, rule) = await MotoSecurityGroups.CreateAsync(moto);

        var result = await Refresher(group, rule, new() { ["DB_PORT"] = "6543", ["SG_RULE_DESCRIPTION"] = "worker-7" })
            .RefreshAsync(TestContext.Current.CancellationToken);

        Assert.IsType<Updated>(result);
        var now = await MotoSecurityGroups.RuleAsync(moto, rule);
        Assert.Equal((6543, 6543, "worker-7"), (now.FromPort, now.ToPort, now.Description));
    }

    [Fact]
    public async Task A_second_refresh_with_the_same_ip_makes_no_modify_call_and_a_new_ip_makes_one()
    {
        var (group, rule) = await MotoSecurityGroups.CreateAsync(moto);
        var refresher = Refresher(group, rule);
        Assert.IsType<Updated>(await refresher.RefreshAsync(TestContext.Current.CancellationToken));
        Assert.Equal(1, ModifyCalls);

        var again = await refresher.RefreshAsync(TestContext.Current.CancellationToken);

        Assert.Equal(new Unchanged(EchoedIp + "/32"), again);
        Assert.Equal(1, ModifyCalls);
        Assert.Contains(_logs.Lines, l => l.Level == LogLevel.Debug && l.Message.Contains("already admits 203.0.113.7/32", StringComparison.Ordinal));

        _echo.Answer = "198.51.100.23";
        var moved = await refresher.RefreshAsync(TestContext.Current.CancellationToken);

        Assert.Equal(new Updated(EchoedIp + "/32", "198.51.100.23/32"), moved);
        Assert.Equal(2, ModifyCalls);
        Assert.Equal("198.51.100.23/32", (await MotoSecurityGroups.RuleAsync(moto, rule)).CidrIpv4);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("\n", "empty")]
    [InlineData("2001:db8::1", "IPv6")]
    [InlineData("<html><body>Service Unavailable</body></html>", "not a dotted IPv4 address")]
    [InlineData("203.0.113", "not a dotted IPv4 address")]
    [InlineData("256.0.113.7", "not a dotted IPv4 address")]
    [InlineData("203.0.113.07", "not a dotted IPv4 address")]
    [InlineData("203.0.113.7 198.51.100.1", "not a dotted IPv4 address")]
    [InlineData("0.0.0.0/0", "not a dotted IPv4 address")]
    public async Task An_answer_that_is_not_an_ipv4_address_leaves_the_rule_untouched_and_logs_why(string answer, string why)
    {
        var (group, rule) = await MotoSecurityGroups.CreateAsync(moto);
        _echo.Answer = answer;

        var result = await Refresher(group, rule).RefreshAsync(TestContext.Current.CancellationToken);

        var rejected = Assert.IsType<Rejected>(result);
        Assert.Contains(why, rejected.Reason, StringComparison.Ordinal);
        Assert.Equal("192.0.2.1/32", (await MotoSecurityGroups.RuleAsync(moto, rule)).CidrIpv4);
        Assert.Empty(_ec2Calls);
        var error = Assert.Single(_logs.Lines, l => l.Level == LogLevel.Error);
        Assert.Contains(rule, error.Message, StringComparison.Ordinal);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_answer_longer_than_any_address_is_rejected()
    {
        var (group, rule) = await MotoSecurityGroups.CreateAsync(moto);
        _echo.Answer = new string('9', 100_000);

        var result = await Refresher(group, rule).RefreshAsync(TestContext.Current.CancellationToken);

        Assert.IsType<Rejected>(result);
        Assert.Equal("192.0.2.1/32", (await MotoSecurityGroups.RuleAsync(moto, rule)).CidrIpv4);
    }

    [Fact]
    public async Task The_echo_being_down_is_retried_then_logged_and_the_rule_untouched()
    {
        var (group, rule) = await MotoSecurityGroups.CreateAsync(moto);
        _echo.Down();

        var result = await Refresher(group, rule).RefreshAsync(TestContext.Current.CancellationToken);

        var failed = Assert.IsType<Failed>(result);
        Assert.Contains("could not read the public IP", failed.Reason, StringComparison.Ordinal);
        Assert.Equal(FastRetries, _logs.Lines.Count(l => l.Level == LogLevel.Warning && l.Message.Contains("retry", StringComparison.Ordinal)));
        Assert.Contains(_logs.Lines, l => l.Level == LogLevel.Error && l.Message.Contains(failed.Reason, StringComparison.Ordinal));
        Assert.Equal("192.0.2.1/32", (await MotoSecurityGroups.RuleAsync(moto, rule)).CidrIpv4);
        Assert.Empty(_ec2Calls);
    }

    [Fact]
    public async Task An_echo_answering_503_is_asked_again_and_a_404_is_not()
    {
        var (group, rule) = await MotoSecurityGroups.CreateAsync(moto);
        _echo.Status = HttpStatusCode.ServiceUnavailable;

        Assert.IsType<Failed>(await Refresher(group, rule).RefreshAsync(TestContext.Current.CancellationToken));
        Assert.Equal(1 + FastRetries, _echo.Requests);

        _echo.Status = HttpStatusCode.NotFound;
        Assert.IsType<Failed>(await Refresher(group, rule).RefreshAsync(TestContext.Current.CancellationToken));
        Assert.Equal(2 + FastRetries, _echo.Requests);
    }

    [Fact]
    public async Task Ec2_throttling_is_retried_then_logged_without_an_exception()
    {
        // A stand-in EC2 endpoint that throttles every call, as EC2 does under load.
        await using var throttlingEc2 = IpEchoServer.Start(
            "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r-1</RequestID></Response>");
        throttlingEc2.Status = HttpStatusCode.ServiceUnavailable;

        var result = await Refresher("sg-0123456789abcdef0", "sgr-0123456789abcdef0", new() { ["AWS_ENDPOINT_URL"] = throttlingEc2.Url })
            .RefreshAsync(TestContext.Current.CancellationToken);

        var failed = Assert.IsType<Failed>(result);
        Assert.Contains("RequestLimitExceeded", failed.Reason, StringComparison.Ordinal);
        Assert.Equal(1 + FastRetries, throttlingEc2.Requests); // our retries only: the SDK's own are off
        Assert.Contains(_logs.Lines, l => l.Level == LogLevel.Error && l.Message.Contains("RequestLimitExceeded", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Ec2_unreachable_is_retried_then_logged_without_an_exception()
    {
        var closed = $"http://127.0.0.1:{PortAllocator.Free()}";

        var result = await Refresher("sg-0123456789abcdef0", "sgr-0123456789abcdef0", new() { ["AWS_ENDPOINT_URL"] = closed })
            .RefreshAsync(TestContext.Current.CancellationToken);

        Assert.StartsWith("EC2 failed", Assert.IsType<Failed>(result).Reason, StringComparison.Ordinal);
        Assert.Equal(FastRetries, _logs.Lines.Count(l => l.Level == LogLevel.Warning && l.Message.Contains("retry", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_rule_that_does_not_exist_fails_once_without_retries()
    {
        var (group, _) = await MotoSecurityGroups.CreateAsync(moto);

        var result = await Refresher(group, "sgr-0000000000000dead").RefreshAsync(TestContext.Current.CancellationToken);

        Assert.Contains("sgr-0000000000000dead", Assert.IsType<Failed>(result).Reason, StringComparison.Ordinal);
        Assert.Equal(["DescribeSecurityGroupRulesRequest"], _ec2Calls);
    }

    [Fact]
    public async Task A_rule_of_another_group_is_not_touched()
    {
        var (_, rule) = await MotoSecurityGroups.CreateAsync(moto);
        var (otherGroup, _) = await MotoSecurityGroups.CreateAsync(moto);

        var result = await Refresher(otherGroup, rule).RefreshAsync(TestContext.Current.CancellationToken);

        Assert.Contains("was not found in security group", Assert.IsType<Failed>(result).Reason, StringComparison.Ordinal);
        Assert.Equal("192.0.2.1/32", (await MotoSecurityGroups.RuleAsync(moto, rule)).CidrIpv4);
        Assert.Equal(0, ModifyCalls);
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("sg-0123456789abcdef0", null)]
    [InlineData(null, "sgr-0123456789abcdef0")]
    [InlineData("sg-0123456789abcdef0", "  ")]
    public async Task Without_both_ids_the_refresh_is_off_and_says_so_once(string? groupId, string? ruleId)
    {
        var refresher = Refresher(groupId, ruleId);

        var first = await refresher.RefreshAsync(TestContext.Current.CancellationToken);
        var second = await refresher.RefreshAsync(TestContext.Current.CancellationToken);

        Assert.IsType<Disabled>(first);
        Assert.IsType<Disabled>(second);
        var line = Assert.Single(_logs.Lines, l => l.Level >= LogLevel.Information);
        Assert.Contains("refresh-rds-sg-rule is off", line.Message, StringComparison.Ordinal);
        Assert.Contains("DB_SG_ID", line.Message, StringComparison.Ordinal);
        Assert.Equal(0, _echo.Requests);
        Assert.Empty(_ec2Calls);
    }

    [Fact]
    public void Options_come_from_environment_variables_with_defaults()
    {
        var defaults = Options(new());
        var set = Options(new()
        {
            ["PUBLIC_IP_ECHO_URL"] = "http://echo.internal/ip",
            ["DB_PORT"] = "6432",
            ["SG_RULE_DESCRIPTION"] = "d",
            ["SG_REFRESH_CRON"] = "*/1 * * * *",
        });

        Assert.Equal((new Uri("https://checkip.amazonaws.com"), 5432, "cruddur-worker", "*/5 * * * *", false),
            (defaults.PublicIpEchoUrl, defaults.Port, defaults.Description, defaults.Cron, defaults.Enabled));
        Assert.Equal((new Uri("http://echo.internal/ip"), 6432, "d", "*/1 * * * *"), (set.PublicIpEchoUrl, set.Port, set.Description, set.Cron));
    }

    [Theory]
    [InlineData("DB_PORT", "postgres", "DB_PORT")]
    [InlineData("DB_PORT", "70000", "DB_PORT")]
    [InlineData("PUBLIC_IP_ECHO_URL", "ftp://x", "PUBLIC_IP_ECHO_URL")]
    [InlineData("SG_REFRESH_CRON", "every five minutes", "SG_REFRESH_CRON")]
    public void A_bad_setting_is_reported_by_name(string name, string value, string named)
    {
        // Out of range: OptionsValidationException; not a number at all: the binder's InvalidOperationException.
        var error = Record.Exception(() => Options(new() { [name] = value }));
        Assert.True(error is Microsoft.Extensions.Options.OptionsValidationException or InvalidOperationException, error?.ToString());
        Assert.Contains(named, error!.Message, StringComparison.Ordinal);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var provider in _providers)
        {
            await provider.DisposeAsync();
        }
        await _echo.DisposeAsync();
    }

    private int ModifyCalls => _ec2Calls.Count(c => c == "ModifySecurityGroupRulesRequest");

    private SecurityGroupRuleRefresher Refresher(string? groupId, string? ruleId, Dictionary<string, string?>? settings = null)
    {
        var configuration = MotoSecurityGroups.Configuration(moto, new Dictionary<string, string?>(settings ?? [])
        {
            ["DB_SG_ID"] = groupId,
            ["DB_SG_RULE_ID"] = ruleId,
            ["PUBLIC_IP_ECHO_URL"] = _echo.Url,
        });
        var services = new ServiceCollection()
            .AddLogging(logging => logging.SetMinimumLevel(LogLevel.Debug).AddProvider(_logs))
            .AddSecurityGroupRefresh(configuration);
        // The Worker's own client, with the test's credentials (the process has no AWS profile), counting calls.
        services.Replace(ServiceDescriptor.Singleton<IAmazonEC2>(_ =>
        {
            var client = SecurityGroupRefreshExtensions.CreateEc2Client(configuration, MotoSecurityGroups.Credentials(moto));
            client.BeforeRequestEvent += (_, e) => _ec2Calls.Enqueue(((WebServiceRequestEventArgs)e).Request.GetType().Name);
            return client;
        }));
        services.PostConfigure<SecurityGroupRefreshOptions>(options => options.Retry = options.Retry with
        {
            MaxRetryAttempts = FastRetries,
            FirstDelay = TimeSpan.FromMilliseconds(10),
            MaxDelay = TimeSpan.FromMilliseconds(50),
            AttemptTimeout = TimeSpan.FromSeconds(5),
        });
        var provider = services.BuildServiceProvider();
        _providers.Add(provider);
        return provider.GetRequiredService<SecurityGroupRuleRefresher>();
    }

    private static SecurityGroupRefreshOptions Options(Dictionary<string, string?> settings)
    {
        using var services = new ServiceCollection()
            .AddSecurityGroupRefresh(new ConfigurationBuilder().AddInMemoryCollection(settings).Build())
            .BuildServiceProvider();
        return services.GetRequiredService<Microsoft.Extensions.Options.IOptions<SecurityGroupRefreshOptions>>().Value;
    }
}

using Amazon.EC2;
using Amazon.EC2.Model;
using Amazon.Runtime;
using Cruddur.Shared.Aws;
using Cruddur.Tests.Fixtures;
using Microsoft.Extensions.Configuration;

namespace Cruddur.Tests.SecurityGroups;

/// <summary>
/// Security groups in the shared moto_server, one per test, as an operator would set them up in the console.
/// moto 5.x implements DescribeSecurityGroupRules and ModifySecurityGroupRules and keeps a rule's id across a
/// modify, as EC2 does, so the refresher runs against it unchanged.
/// </summary>
internal static class MotoSecurityGroups
{
    public static AWSCredentials Credentials(MotoServer moto) =>
        new BasicAWSCredentials(moto.Environment["AWS_ACCESS_KEY_ID"], moto.Environment["AWS_SECRET_ACCESS_KEY"]);

    public static IConfiguration Configuration(MotoServer moto, IReadOnlyDictionary<string, string?>? settings = null) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(moto.Environment)
            .AddInMemoryCollection(settings ?? new Dictionary<string, string?>())
            .Build();

    public static AmazonEC2Client Client(MotoServer moto) =>
        new(Credentials(moto), AwsClientConfiguration.Apply(new AmazonEC2Config(), Configuration(moto)));

    /// <summary>A new group with one tcp/5432 ingress rule admitting <paramref name="cidr"/>.</summary>
    public static async Task<(string GroupId, string RuleId)> CreateAsync(MotoServer moto, string cidr = "192.0.2.1/32")
    {
        using var ec2 = Client(moto);
        var group = await ec2.CreateSecurityGroupAsync(new CreateSecurityGroupRequest($"cruddur-db-{Guid.NewGuid():N}", "cruddur test database"));
        var rule = await ec2.AuthorizeSecurityGroupIngressAsync(new AuthorizeSecurityGroupIngressRequest
        {
            GroupId = group.GroupId,
            IpPermissions =
            [
                new IpPermission
                {
                    IpProtocol = "tcp",
                    FromPort = 5432,
                    ToPort = 5432,
                    Ipv4Ranges = [new IpRange { CidrIp = cidr, Description = "set by the test" }],
                },
            ],
        });
        return (group.GroupId, rule.SecurityGroupRules.Single().SecurityGroupRuleId);
    }

    /// <summary>The rule as EC2 reports it now.</summary>
    public static async Task<SecurityGroupRule> RuleAsync(MotoServer moto, string ruleId)
    {
        using var ec2 = Client(moto);
        var response = await ec2.DescribeSecurityGroupRulesAsync(new DescribeSecurityGroupRulesRequest { SecurityGroupRuleIds = [ruleId] });
        return response.SecurityGroupRules.Single();
    }
}

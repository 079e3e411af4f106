using System.Text.Json;
using Cruddur.Tests.Fixtures;

namespace Cruddur.Tests.SecurityGroups;

/// <summary>The seed's RDS scripts, run as a developer runs them, against moto_server.</summary>
public sealed class RdsScriptTests(MotoServer moto)
{
    [Fact]
    public async Task Rds_update_sg_rule_with_gitpod_ip_points_the_rule_at_it()
    {
        var (group, rule) = await MotoSecurityGroups.CreateAsync(moto);

        var result = await RunAsync("rds-update-sg-rule", new() { ["DB_SG_ID"] = group, ["DB_SG_RULE_ID"] = rule, ["GITPOD_IP"] = "198.51.100.9" });

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("== rds-update-sg-rule", result.Stdout, StringComparison.Ordinal);
        var now = await MotoSecurityGroups.RuleAsync(moto, rule);
        Assert.Equal(("198.51.100.9/32", "tcp", 5432, 5432), (now.CidrIpv4, now.IpProtocol, now.FromPort, now.ToPort));
    }

    [Fact]
    public async Task Rds_update_sg_rule_without_gitpod_ip_asks_the_echo_url()
    {
        var (group, rule) = await MotoSecurityGroups.CreateAsync(moto);
        await using var echo = IpEchoServer.Start("203.0.113.44\n");

        var result = await RunAsync("rds-update-sg-rule",
            new() { ["DB_SG_ID"] = group, ["DB_SG_RULE_ID"] = rule, ["GITPOD_IP"] = null, ["PUBLIC_IP_ECHO_URL"] = echo.Url });

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("203.0.113.44/32", (await MotoSecurityGroups.RuleAsync(moto, rule)).CidrIpv4);
    }

    [Theory]
    [InlineData("2001:db8::1")]
    [InlineData("not-an-ip")]
    [InlineData("10.0.0.256")]
    public async Task Rds_update_sg_rule_refuses_what_is_not_an_ipv4_address(string ip)
    {
        var (group, rule) = await MotoSecurityGroups.CreateAsync(moto);

        var result = await RunAsync("rds-update-sg-rule", new() { ["DB_SG_ID"] = group, ["DB_SG_RULE_ID"] = rule, ["GITPOD_IP"] = ip });

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("not an IPv4 address", result.Stderr, StringComparison.Ordinal);
        Assert.Equal("192.0.2.1/32", (await MotoSecurityGroups.RuleAsync(moto, rule)).CidrIpv4);
    }

    [Fact]
    public async Task Rds_update_sg_rule_without_ids_says_which_is_missing()
    {
        var noGroup = await RunAsync("rds-update-sg-rule", new() { ["DB_SG_ID"] = null, ["DB_SG_RULE_ID"] = "sgr-1", ["GITPOD_IP"] = "198.51.100.9" });
        var noRule = await RunAsync("rds-update-sg-rule", new() { ["DB_SG_ID"] = "sg-1", ["DB_SG_RULE_ID"] = null, ["GITPOD_IP"] = "198.51.100.9" });

        Assert.Equal((1, 1), (noGroup.ExitCode, noRule.ExitCode));
        Assert.Contains("DB_SG_ID is not set", noGroup.Stderr, StringComparison.Ordinal);
        Assert.Contains("DB_SG_RULE_ID is not set", noRule.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rds_create_creates_cruddur_db_instance_as_a_careful_operator_would_with_no_password_asked()
    {
        // The default identifier, once per moto_server; a reused emulator may hold it from an earlier run.
        await DeleteInstanceAsync("cruddur-db-instance");

        var result = await RunAsync("rds-create", new() { ["RDS_INSTANCE_ID"] = null });

        Assert.True(result.ExitCode == 0, result.ToString());
        var instance = await DescribeInstanceAsync("cruddur-db-instance");
        Assert.NotNull(instance);
        var db = instance.Value;
        Assert.Equal(("postgres", "db.t3.micro", "cruddurroot", "cruddur", "us-east-1a"),
            (db.GetProperty("Engine").GetString(), db.GetProperty("DBInstanceClass").GetString(), db.GetProperty("MasterUsername").GetString(),
             db.GetProperty("DBName").GetString(), db.GetProperty("AvailabilityZone").GetString()));
        // The seed's security list, as the instance has it: moto_server keeps each of these flags.
        Assert.False(db.GetProperty("PubliclyAccessible").GetBoolean());
        Assert.True(db.GetProperty("StorageEncrypted").GetBoolean());
        Assert.Equal(7, db.GetProperty("BackupRetentionPeriod").GetInt32());
        Assert.True(db.GetProperty("DeletionProtection").GetBoolean());
        Assert.True(db.GetProperty("IAMDatabaseAuthenticationEnabled").GetBoolean());
        Assert.StartsWith("arn:aws:secretsmanager:", db.GetProperty("MasterUserSecret").GetProperty("SecretArn").GetString(), StringComparison.Ordinal);
        Assert.Contains(db.GetProperty("MasterUserSecret").GetProperty("SecretArn").GetString()!, result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_instance_rds_create_made_cannot_be_deleted_while_its_deletion_protection_is_on()
    {
        var id = UniqueInstanceId();
        Assert.Equal(0, (await RunAsync("rds-create", new() { ["RDS_INSTANCE_ID"] = id })).ExitCode);

        var delete = await Aws("rds", "delete-db-instance", "--db-instance-identifier", id, "--skip-final-snapshot");

        Assert.NotEqual(0, delete.ExitCode);
        Assert.NotNull(await DescribeInstanceAsync(id));
    }

    [Fact]
    public async Task Rds_create_takes_identifier_class_and_engine_version_from_the_environment()
    {
        var id = UniqueInstanceId();

        var result = await RunAsync("rds-create", new()
        {
            ["RDS_INSTANCE_ID"] = id,
            ["RDS_INSTANCE_CLASS"] = "db.t4g.micro",
            ["RDS_ENGINE_VERSION"] = "15.4",
            ["RDS_AVAILABILITY_ZONE"] = "us-east-1b",
        });

        Assert.True(result.ExitCode == 0, result.ToString());
        var db = (await DescribeInstanceAsync(id))!.Value;
        Assert.Equal(("db.t4g.micro", "15.4", "us-east-1b"),
            (db.GetProperty("DBInstanceClass").GetString(), db.GetProperty("EngineVersion").GetString(), db.GetProperty("AvailabilityZone").GetString()));
    }

    [Theory]
    [InlineData("RDS_MASTER_PASSWORD", "Rds-Secret-4711!", "RDS now makes and keeps the master password in Secrets Manager")]
    [InlineData("RDS_BACKUP_RETENTION_DAYS", "0", "RDS_BACKUP_RETENTION_DAYS must be a number of days from 1 to 35")]
    [InlineData("RDS_BACKUP_RETENTION_DAYS", "36", "RDS_BACKUP_RETENTION_DAYS must be a number of days from 1 to 35")]
    [InlineData("RDS_PUBLICLY_ACCESSIBLE", "maybe", "RDS_PUBLICLY_ACCESSIBLE must be true or false")]
    public async Task Rds_create_refuses_a_setting_it_cannot_take_and_creates_nothing(string setting, string value, string message)
    {
        var id = UniqueInstanceId();

        var result = await RunAsync("rds-create", new() { [setting] = value, ["RDS_INSTANCE_ID"] = id });

        Assert.Equal(1, result.ExitCode);
        Assert.Contains(message, result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Rds-Secret", result.Output, StringComparison.Ordinal);
        Assert.Null(await DescribeInstanceAsync(id));
    }

    [Fact]
    public async Task Rds_stop_and_rds_start_stop_and_start_the_instance()
    {
        var id = UniqueInstanceId();
        Assert.Equal(0, (await RunAsync("rds-create", new() { ["RDS_INSTANCE_ID"] = id })).ExitCode);

        var stop = await RunAsync("rds-stop", new() { ["RDS_INSTANCE_ID"] = id });
        var stopped = (await DescribeInstanceAsync(id))!.Value.GetProperty("DBInstanceStatus").GetString();
        var start = await RunAsync("rds-start", new() { ["RDS_INSTANCE_ID"] = id });
        var started = (await DescribeInstanceAsync(id))!.Value.GetProperty("DBInstanceStatus").GetString();

        Assert.True(stop.ExitCode == 0 && start.ExitCode == 0, stop + "\n" + start);
        Assert.Equal(("stopped", "available"), (stopped, started));
        Assert.Contains("7 days", stop.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rds_start_of_an_unknown_instance_fails_clearly()
    {
        var result = await RunAsync("rds-start", new() { ["RDS_INSTANCE_ID"] = UniqueInstanceId() });

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("could not start", result.Stderr, StringComparison.Ordinal);
    }

    private static string UniqueInstanceId() => $"cruddur-test-{Guid.NewGuid():N}"[..30];

    private Task<ProcessResult> RunAsync(string script, Dictionary<string, string?> settings)
    {
        var env = new Dictionary<string, string?>(moto.Environment);
        foreach (var name in new[] { "DB_SG_ID", "DB_SG_RULE_ID", "GITPOD_IP", "PUBLIC_IP_ECHO_URL", "DB_PORT", "RDS_MASTER_PASSWORD", "RDS_INSTANCE_ID", "RDS_BACKUP_RETENTION_DAYS", "RDS_PUBLICLY_ACCESSIBLE" })
        {
            env[name] = null; // never a developer's own
        }
        foreach (var (name, value) in settings)
        {
            env[name] = value;
        }
        return Repository.RunScriptAsync(script, [], env);
    }

    /// <summary>The instance as <c>aws rds describe-db-instances</c> shows it, or null when there is none.</summary>
    private async Task<JsonElement?> DescribeInstanceAsync(string id)
    {
        var result = await Aws("rds", "describe-db-instances", "--output", "json");
        Assert.True(result.ExitCode == 0, result.ToString());
        using var document = JsonDocument.Parse(result.Stdout);
        foreach (var instance in document.RootElement.GetProperty("DBInstances").EnumerateArray())
        {
            if (instance.GetProperty("DBInstanceIdentifier").GetString() == id)
            {
                return instance.Clone();
            }
        }
        return null;
    }

    private async Task DeleteInstanceAsync(string id)
    {
        if (await DescribeInstanceAsync(id) is not null)
        {
            // bin/rds-create turns deletion protection on: an operator turns it off first, as here.
            var unprotect = await Aws("rds", "modify-db-instance", "--db-instance-identifier", id, "--no-deletion-protection", "--apply-immediately");
            var result = await Aws("rds", "delete-db-instance", "--db-instance-identifier", id, "--skip-final-snapshot");
            Assert.True(unprotect.ExitCode == 0 && result.ExitCode == 0, unprotect + "\n" + result);
        }
    }

    private Task<ProcessResult> Aws(params string[] arguments) =>
        ProcessRunner.RunAsync("aws", ["--endpoint-url", moto.EndpointUrl, "--region", MotoServer.Region, .. arguments], moto.Environment);
}

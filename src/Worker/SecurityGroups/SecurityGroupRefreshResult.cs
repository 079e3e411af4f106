namespace Cruddur.Worker.SecurityGroups;

/// <summary>What one refresh did. A refresh never throws for AWS, network or echo trouble: it says so here.</summary>
public abstract record SecurityGroupRefreshResult
{
    private SecurityGroupRefreshResult()
    {
    }

    /// <summary><c>DB_SG_ID</c> or <c>DB_SG_RULE_ID</c> is unset: nothing was read or changed.</summary>
    public sealed record Disabled : SecurityGroupRefreshResult;

    /// <summary>The rule already admits the current IP; no Modify call was made.</summary>
    public sealed record Unchanged(string Cidr) : SecurityGroupRefreshResult;

    /// <summary>The rule was moved from <paramref name="OldCidr"/> to <paramref name="NewCidr"/>.</summary>
    public sealed record Updated(string OldCidr, string NewCidr) : SecurityGroupRefreshResult;

    /// <summary>The echo URL's answer is not a well-formed IPv4 address; the rule was left untouched.</summary>
    public sealed record Rejected(string Reason) : SecurityGroupRefreshResult;

    /// <summary>The echo URL or EC2 failed (after retries where a retry could help); the rule was left untouched.</summary>
    public sealed record Failed(string Reason) : SecurityGroupRefreshResult;
}

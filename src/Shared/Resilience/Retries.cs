namespace Cruddur.Shared.Resilience;

/// <summary>
/// The names of the process's retry pipelines, for <c>ResiliencePipelineProvider&lt;string&gt;.GetPipeline</c>: every
/// in-process wait and retry is one of these, shaped by <see cref="BoundedRetry.AddBoundedRetry"/> and deciding with
/// <see cref="TransientErrors.IsTransient"/>. Hangfire's job retry stays the outer, job-level layer.
/// </summary>
public static class Retries
{
    /// <summary>Each database write of a function or of the Api (<see cref="DatabaseResilience"/>).</summary>
    public const string DatabaseWrite = "database-writes";

    /// <summary>A Worker's startup migration waiting for the database to come up, without limit.</summary>
    public const string DatabaseStartup = "database-startup";

    /// <summary>The migrator waiting for another process's migration lock, without limit.</summary>
    public const string MigrationLock = "migration-lock";

    /// <summary>A Worker's Hangfire connections waiting out a database outage (<c>DATABASE_OUTAGE_WAIT_SECONDS</c>).</summary>
    public const string HangfireConnection = "hangfire-connection";

    /// <summary>The Api's SQS poller pausing after SQS or Postgres failed, without limit.</summary>
    public const string SqsPoll = "sqs-poll";

    /// <summary>The security group refresh's calls to the echo URL and to EC2.</summary>
    public const string Ec2 = "security-group-refresh";

    /// <summary>The Cognito trigger's SendMessage (built by <c>SignUpForwarder</c>: a Lambda has no host).</summary>
    public const string SignUpSend = "sign-up-send";
}

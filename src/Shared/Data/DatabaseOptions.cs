using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace Cruddur.Shared.Data;

/// <summary>The pools' sizes (<c>CONNECTION_URL</c> itself is read by <see cref="DataServiceCollectionExtensions.ConnectionStringFrom"/>, which explains a bad URL without its password).</summary>
public sealed class DatabaseOptions
{
    /// <summary>The main pool's size, and the asynchronous-commit pool's; unset, the process's own default (the Worker's grows with its worker count).</summary>
    [ConfigurationKeyName("DB_POOL_SIZE"), Display(Name = "DB_POOL_SIZE"), Range(1, 1000)]
    public int? PoolSize { get; set; }

    /// <summary>
    /// How the processes prove who they are: <c>password</c> (the URL's) or <c>iam</c> (an RDS IAM token for each new
    /// connection, from the AWS SDK's credential chain in <c>AWS_REGION</c>; the URL then carries no password).
    /// </summary>
    [ConfigurationKeyName("DATABASE_AUTH"), Display(Name = "DATABASE_AUTH"), AllowedValues("password", "iam")]
    public string Authentication { get; set; } = "password";

    /// <summary>True when each new connection's password is an RDS IAM token.</summary>
    public bool UsesIam => Authentication == "iam";

    /// <summary>The read pool's size (see <see cref="DataServiceCollectionExtensions.ConfigureForReads"/>).</summary>
    [ConfigurationKeyName("DB_READ_POOL_SIZE"), Display(Name = "DB_READ_POOL_SIZE"), Range(1, 1000)]
    public int ReadPoolSize { get; set; } = 10;
}

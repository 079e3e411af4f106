using System.Security.Authentication;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace Cruddur.Shared.Data;

/// <summary>
/// Verified TLS to the database: with <c>DB_CA_BUNDLE</c> (the RDS CA bundle's path) set, a host other than this machine
/// is reached with <c>sslmode=verify-full</c> against that bundle, so a machine in the middle is refused rather than
/// encrypted to. Without it, such a host gets <c>sslmode=require</c> (encrypted, unverified) as before.
/// </summary>
public static class DatabaseTls
{
    /// <summary>The configuration key of the CA bundle's path.</summary>
    public const string CaBundleKey = "DB_CA_BUNDLE";

    /// <summary>
    /// Makes <paramref name="connection"/> verify its server with <paramref name="caBundle"/>: a host other than this
    /// machine always (whatever sslmode the URL named), this machine when the URL asked for verify-ca or verify-full.
    /// </summary>
    /// <exception cref="InvalidOperationException">No file at <paramref name="caBundle"/>; the message names the setting.</exception>
    public static void Apply(NpgsqlConnectionStringBuilder connection, string? caBundle)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (string.IsNullOrWhiteSpace(caBundle))
        {
            return;
        }
        if (!File.Exists(caBundle))
        {
            throw new InvalidOperationException(
                $"{CaBundleKey}: no file at '{caBundle}' (the server's CA bundle, for RDS https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem).");
        }
        if (!ConnectionUrl.IsLocal(connection.Host!))
        {
            connection.SslMode = SslMode.VerifyFull;
        }
        if (connection.SslMode is SslMode.VerifyCA or SslMode.VerifyFull)
        {
            connection.RootCertificate ??= Path.GetFullPath(caBundle);
        }
    }

    /// <summary>
    /// For a connection refused because the server's certificate did not verify, an error that says what to check and
    /// names the setting; null for any other failure.
    /// </summary>
    public static InvalidOperationException? RefusedCertificate(Exception error, NpgsqlConnectionStringBuilder connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is AuthenticationException)
            {
                return new InvalidOperationException(
                    $"The database server {connection.Host}:{connection.Port} was refused: its certificate did not verify " +
                    $"(sslmode={connection.SslMode}, {CaBundleKey}={connection.RootCertificate ?? "unset"}). Is {CaBundleKey} the CA bundle " +
                    "of that server (for RDS, global-bundle.pem), and the URL's host the name on its certificate (the RDS endpoint, not an IP " +
                    $"address or another name for it)? {e.Message}", error);
            }
        }
        return null;
    }
}

/// <summary>
/// Opens one connection at startup so that a certificate that does not verify stops the process with a message that
/// names <c>DB_CA_BUNDLE</c>, before any job or request finds it. Any other failure (the database is down) is left to
/// the usual waits and readiness checks.
/// </summary>
internal sealed class DatabaseTlsCheck(NpgsqlDataSource dataSource) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var connection = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString);
        if (connection.SslMode is not (SslMode.VerifyCA or SslMode.VerifyFull))
        {
            return;
        }
        try
        {
            await using var opened = await dataSource.OpenConnectionAsync(cancellationToken);
        }
        catch (NpgsqlException e) when (DatabaseTls.RefusedCertificate(e, connection) is { } refused)
        {
            throw refused;
        }
        catch (NpgsqlException)
        {
            // unreachable for now: the Worker waits for it, the Api answers 503 until it is back
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

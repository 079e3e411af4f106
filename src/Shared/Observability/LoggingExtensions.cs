using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Cruddur.Shared.Observability;

public static class LoggingExtensions
{
    /// <summary>
    /// Console logs as both processes write them: one line per event, or JSON with <c>LOG_FORMAT=json</c>.
    /// Npgsql and Polly speak at Warning and above only (their Information lines would log every command), and
    /// so does ASP.NET Core unless <c>Logging__LogLevel__Microsoft.AspNetCore</c> says otherwise: it writes five
    /// lines per request at Information, which stall the Api under load (bin/bench, feed p99 at 10,000 rows:
    /// 124 ms with them, 40 ms without).
    /// </summary>
    public static ILoggingBuilder AddCruddurConsole(this ILoggingBuilder logging, IConfiguration configuration)
    {
        logging.ClearProviders();
        if (string.Equals(configuration["LOG_FORMAT"], "json", StringComparison.OrdinalIgnoreCase))
        {
            logging.AddJsonConsole(o => o.IncludeScopes = true);
        }
        else
        {
            logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            });
        }
        logging.AddFilter("Npgsql", LogLevel.Warning);
        if (configuration["Logging:LogLevel:Microsoft.AspNetCore"] is null)
        {
            logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        }
        logging.AddFilter("Polly", LogLevel.Warning); // it reports every execution at Information; our retries log themselves
        return logging;
    }
}

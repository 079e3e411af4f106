using Hangfire.Logging;
using Microsoft.Extensions.Logging;
using HangfireLevel = Hangfire.Logging.LogLevel;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace Cruddur.Shared.Jobs;

/// <summary>
/// Hangfire's log lines into Microsoft.Extensions.Logging. Hangfire keeps its log provider in a static and
/// caches loggers in statics, so this provider looks the host's logger factory up at each line: a host that
/// was stopped (tests run several in one process) drops lines instead of throwing ObjectDisposedException.
/// </summary>
internal sealed class HangfireLogProvider : ILogProvider
{
    private static ILoggerFactory? _factory;

    public static void Use(ILoggerFactory factory) => Volatile.Write(ref _factory, factory);

    public ILog GetLogger(string name) => new ForwardingLog(name);

    private sealed class ForwardingLog(string name) : ILog
    {
        public bool Log(HangfireLevel logLevel, Func<string>? messageFunc, Exception? exception = null)
        {
            ILogger logger;
            try
            {
                if (Volatile.Read(ref _factory) is not { } factory)
                {
                    return false;
                }
                logger = factory.CreateLogger(name);
            }
            catch (ObjectDisposedException)
            {
                return false;
            }
            var level = logLevel switch
            {
                HangfireLevel.Trace => LogLevel.Trace,
                HangfireLevel.Debug => LogLevel.Debug,
                HangfireLevel.Info => LogLevel.Information,
                HangfireLevel.Warn => LogLevel.Warning,
                HangfireLevel.Error => LogLevel.Error,
                _ => LogLevel.Critical,
            };
            if (messageFunc is null)
            {
                return logger.IsEnabled(level);
            }
            if (logger.IsEnabled(level))
            {
#pragma warning disable CA2254 // Hangfire hands us finished text, not a template
                logger.Log(level, exception, messageFunc().Replace("{", "{{", StringComparison.Ordinal).Replace("}", "}}", StringComparison.Ordinal));
#pragma warning restore CA2254
            }
            return true;
        }
    }
}

using Microsoft.Extensions.Logging;

namespace Cruddur.Shared.Data;

/// <summary>
/// A logger that writes nothing: it hands every exception logged to it to <see cref="DatabaseDiskFull"/>; the logging
/// filters decide which levels reach it (<c>LoggingExtensions.AddCruddurConsole</c>). Hangfire's own loops (a state change's
/// commit, a fetch) run no code of ours when their statement fails, but they log it; the Worker's Processing commit, which
/// waits for the WAL, is a likely one to meet a full disk.
/// </summary>
internal sealed class DatabaseDiskFullLogProvider : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => Logger.Instance;

    public void Dispose()
    {
    }

    private sealed class Logger : ILogger
    {
        public static readonly Logger Instance = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            DatabaseDiskFull.Note(exception);
    }
}

using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Cruddur.Tests.Fixtures;

/// <summary>An ILoggerProvider that keeps every line in memory, so tests can assert what an operator would read.</summary>
public sealed class LogCollector : ILoggerProvider
{
    private readonly ConcurrentQueue<LogLine> _lines = new();

    public IReadOnlyList<LogLine> Lines => [.. _lines];

    /// <summary>All lines as "Level: message", one per line, for assertion messages.</summary>
    public string Text => string.Join('\n', _lines.Select(l => $"{l.Level}: {l.Message}"));

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    public sealed record LogLine(string Category, LogLevel Level, string Message, Exception? Exception);

    private sealed class Logger(LogCollector collector, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            collector._lines.Enqueue(new LogLine(category, logLevel, formatter(state, exception), exception));
    }
}

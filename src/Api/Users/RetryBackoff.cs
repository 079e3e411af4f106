namespace Cruddur.Api.Users;

/// <summary>Exponential pauses with jitter, capped: first, 2×first, 4×first… up to max; reset on success.</summary>
internal sealed class RetryBackoff(TimeSpan first, TimeSpan max)
{
    private int _failures;

    /// <summary>Failures since the last success.</summary>
    public int Failures => _failures;

    /// <summary>Records a failure and returns how long to pause before trying again.</summary>
    public TimeSpan Next()
    {
        var exponent = Math.Min(_failures, 20);
        _failures++;
        var delay = Math.Min(first.TotalMilliseconds * Math.Pow(2, exponent), max.TotalMilliseconds);
        // ±20% jitter, so several pollers (and several Api processes) do not retry in lockstep.
        var jittered = delay * (0.8 + (0.4 * Random.Shared.NextDouble()));
        return TimeSpan.FromMilliseconds(Math.Min(jittered, max.TotalMilliseconds));
    }

    public void Reset() => _failures = 0;
}

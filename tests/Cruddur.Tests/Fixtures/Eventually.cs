using System.Diagnostics;

namespace Cruddur.Tests.Fixtures;

/// <summary>
/// Waits for a state to be reached, not for time to pass: polls until the condition holds, and when the deadline
/// passes FAILS the test, naming what was awaited and the last value seen. Deadlines are generous because this
/// machine is shared and slow; a test asserts order and outcome, never speed.
/// </summary>
public static class Eventually
{
    /// <summary>The default deadline: long enough for a loaded 2-core machine, short enough to end a hung test.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>Observes until <paramref name="reached"/> holds and returns that observation.</summary>
    public static async Task<T> ReachesAsync<T>(Func<Task<T>> observe, Func<T, bool> reached, string awaited, TimeSpan? timeout = null)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var value = await observe();
            if (reached(value))
            {
                return value;
            }
            if (clock.Elapsed > (timeout ?? Deadline))
            {
                Assert.Fail($"waited {clock.Elapsed.TotalSeconds:0.#} s for {awaited}; last observed: {Describe(value)}");
            }
            await Task.Delay(100);
        }
    }

    /// <summary>The same, for a value read without I/O (a log, a counter).</summary>
    public static Task<T> ReachesAsync<T>(Func<T> observe, Func<T, bool> reached, string awaited, TimeSpan? timeout = null) =>
        ReachesAsync(() => Task.FromResult(observe()), reached, awaited, timeout);

    /// <summary>Waits until <paramref name="condition"/> holds.</summary>
    public static Task HoldsAsync(Func<Task<bool>> condition, string awaited, TimeSpan? timeout = null) =>
        ReachesAsync(condition, held => held, awaited, timeout);

    private static string Describe<T>(T value) => value switch
    {
        null => "null",
        string text => text.Length > 2000 ? "…" + text[^2000..] : text,
        System.Collections.IEnumerable items => "[" + string.Join(", ", items.Cast<object?>().Take(50)) + "]",
        _ => value.ToString() ?? "",
    };
}

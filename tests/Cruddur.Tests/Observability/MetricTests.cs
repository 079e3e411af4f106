using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Cruddur.Shared.Observability;
using Cruddur.Tests.Fixtures;
using Cruddur.Tests.Hosting;

namespace Cruddur.Tests.Observability;

/// <summary>Cruddur's metrics follow OpenTelemetry's conventions: durations in seconds.</summary>
public sealed class MetricTests(PostgresServer server)
{
    [Fact]
    public async Task An_invocations_duration_is_recorded_in_seconds()
    {
        var slow = new ConcurrentQueue<(string Unit, double Value)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == CruddurTelemetry.Name && instrument.Name == "cruddur.function.duration")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag is { Key: "function", Value: "slow" })
                {
                    slow.Enqueue((instrument.Unit!, value));
                }
            }
        });
        listener.Start();
        await using var db = await TestDatabase.CreateAsync(server);
        await using var worker = await InProcessWorker.StartAsync(db.Url, [typeof(SlowFunctions)]);

        await worker.Jobs.EnqueueAsync(new SlowJob(1200));

        var (unit, seconds) = await Eventually.ReachesAsync(() => slow.TryPeek(out var m) ? m : default, m => m.Unit is not null, "a slow invocation's duration");
        Assert.Equal("s", unit);
        // A 1.2 s delay measured by another clock may read a hair under 1.2; in milliseconds it would be 1,200 or more.
        Assert.InRange(seconds, 1.1, 60);
    }
}

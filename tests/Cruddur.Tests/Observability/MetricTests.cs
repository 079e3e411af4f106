using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text;
using System.Text.Json;
using Cruddur.Shared.Observability;
using Cruddur.Tests.Fixtures;
using Cruddur.Tests.Hosting;
using Microsoft.Extensions.DependencyInjection;

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

    [Fact]
    public async Task The_group_commits_wait_duration_and_size_are_recorded_by_kind_in_seconds()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        // No linger, and an interval a slow machine cannot blur: a lone post, then a stream into one open job.
        await using var api = new ApiFactory(db.Url, new Dictionary<string, string?>
        {
            ["ACTIVITY_BATCH_MAX_SIZE"] = "500", ["ACTIVITY_BATCH_LINGER_MS"] = "0", ["ACTIVITY_BATCH_MIN_INTERVAL_MS"] = "4000",
        });
        // This Api's own meters (another test's Api records on instruments of the same names).
        var meters = api.Services.GetRequiredService<IMeterFactory>();
        var measured = new ConcurrentQueue<(string Name, string? Unit, double Value, string? Kind, string? Outcome)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Scope == meters && instrument.Meter.Name == CruddurTelemetry.Name
                    && instrument.Name.StartsWith("cruddur.activity.commit.", StringComparison.Ordinal))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            string? kind = null, outcome = null;
            foreach (var tag in tags)
            {
                kind = tag.Key == "kind" ? tag.Value as string : kind;
                outcome = tag.Key == "outcome" ? tag.Value as string : outcome;
            }
            measured.Enqueue((instrument.Name, instrument.Unit, value, kind, outcome));
        }
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument, value, tags));
        listener.Start();
        using var http = api.CreateClient();

        var posting = System.Diagnostics.Stopwatch.StartNew();
        for (var n = 1; n <= 4; n++)
        {
            var answer = await http.PostAsync(new Uri("/api/activities", UriKind.Relative), new StringContent(
                JsonSerializer.Serialize(new { user_handle = "bayko", message = $"measured {n}", ttl = "1-day" }), Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.Accepted, answer.StatusCode);
        }
        var posted = posting.Elapsed.TotalSeconds;
        // The open job is queued once the interval is over: a commit without posts.
        await Eventually.ReachesAsync(() => measured.Count(m => m.Kind == "close"), count => count > 0, "the open job's close");

        var all = measured.ToList();
        var waits = all.Where(m => m.Name == "cruddur.activity.commit.wait").ToList();
        Assert.Equal(4, waits.Count);
        Assert.All(waits, wait => Assert.Equal("s", wait.Unit));
        // Each took part of the posts' own time: recorded in milliseconds, a commit of a few would exceed it.
        Assert.All(waits, wait => Assert.InRange(wait.Value, 0, posted));
        var commits = all.Where(m => m.Name == "cruddur.activity.commit.duration").ToList();
        // The lone post on a quiet Api is a job of its own; the next opens a job, the two after it append to it.
        Assert.Equal(["job", "open", "append", "append", "close"], commits.Select(c => c.Kind));
        Assert.All(commits, commit => Assert.Equal(("s", "success"), (commit.Unit, commit.Outcome)));
        Assert.All(commits.Take(4), commit => Assert.InRange(commit.Value, 1e-6, posted));
        var sizes = all.Where(m => m.Name == "cruddur.activity.commit.size").ToList();
        Assert.Equal([1.0, 1.0, 1.0, 1.0], sizes.Select(s => s.Value));
        Assert.All(sizes, size => Assert.Equal("{post}", size.Unit));
    }
}

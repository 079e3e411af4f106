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
        using var measured = new CommitMeasurements(api);
        using var http = api.CreateClient();

        var posting = System.Diagnostics.Stopwatch.StartNew();
        for (var n = 1; n <= 4; n++)
        {
            Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(http, $"measured {n}")).StatusCode);
        }
        var posted = posting.Elapsed.TotalSeconds;
        // The open job is queued once the interval is over: a commit without posts.
        await Eventually.ReachesAsync(() => measured.Of("cruddur.activity.commit.duration").Count(m => m.Kind == "close"), count => count > 0, "the open job's close");

        var waits = measured.Of("cruddur.activity.commit.wait");
        Assert.Equal(4, waits.Count);
        Assert.All(waits, wait => Assert.Equal("s", wait.Unit));
        // Each took part of the posts' own time: recorded in milliseconds, a commit of a few would exceed it.
        Assert.All(waits, wait => Assert.InRange(wait.Value, 0, posted));
        var commits = measured.Of("cruddur.activity.commit.duration");
        // The lone post on a quiet Api is a job of its own; the next opens a job, the two after it append to it.
        Assert.Equal(["job", "open", "append", "append", "close"], commits.Select(c => c.Kind));
        Assert.All(commits, commit => Assert.Equal(("s", "success"), (commit.Unit, commit.Outcome)));
        Assert.All(commits.Take(4), commit => Assert.InRange(commit.Value, 1e-6, posted));
        var sizes = measured.Of("cruddur.activity.commit.size");
        Assert.Equal([1.0, 1.0, 1.0, 1.0], sizes.Select(s => s.Value));
        Assert.All(sizes, size => Assert.Equal("{post}", size.Unit));
    }

    [Fact]
    public async Task A_commit_the_database_refuses_is_recorded_as_a_failure()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await db.ExecuteAsync("ALTER TABLE hangfire.job ADD CONSTRAINT refuse_every_job CHECK (false) NOT VALID");
        await using var api = new ApiFactory(db.Url);
        using var measured = new CommitMeasurements(api);
        using var http = api.CreateClient();

        // Not a transient failure, so not a 503 to retry: a 500, and nothing accepted.
        Assert.Equal(HttpStatusCode.InternalServerError, (await PostAsync(http, "refused")).StatusCode);

        var commit = Assert.Single(measured.Of("cruddur.activity.commit.duration"));
        Assert.Equal(("job", "failure"), (commit.Kind, commit.Outcome));
        Assert.Equal(1.0, Assert.Single(measured.Of("cruddur.activity.commit.size")).Value);
    }

    private static Task<HttpResponseMessage> PostAsync(HttpClient http, string message) =>
        http.PostAsync(new Uri("/api/activities", UriKind.Relative), new StringContent(
            JsonSerializer.Serialize(new { user_handle = "bayko", message, ttl = "1-day" }), Encoding.UTF8, "application/json"));

    // The group commit's measurements of one Api, read through its own IMeterFactory: another test's Api records on
    // instruments of the same names.
    private sealed class CommitMeasurements : IDisposable
    {
        private readonly ConcurrentQueue<(string Name, string? Unit, double Value, string? Kind, string? Outcome)> _measured = new();
        private readonly MeterListener _listener;

        public CommitMeasurements(ApiFactory api)
        {
            var meters = api.Services.GetRequiredService<IMeterFactory>();
            _listener = new MeterListener
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
            _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
            _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument, value, tags));
            _listener.Start();
        }

        public List<(string Name, string? Unit, double Value, string? Kind, string? Outcome)> Of(string instrument) =>
            _measured.Where(m => m.Name == instrument).ToList();

        public void Dispose() => _listener.Dispose();

        private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            string? kind = null, outcome = null;
            foreach (var tag in tags)
            {
                kind = tag.Key == "kind" ? tag.Value as string : kind;
                outcome = tag.Key == "outcome" ? tag.Value as string : outcome;
            }
            _measured.Enqueue((instrument.Name, instrument.Unit, value, kind, outcome));
        }
    }
}

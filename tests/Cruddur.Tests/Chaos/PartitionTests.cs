using System.Net;
using System.Text;
using System.Text.Json;
using Cruddur.Tests.Fixtures;
using Cruddur.Worker.Activities;

namespace Cruddur.Tests.Chaos;

/// <summary>
/// A network partition between one host and PostgreSQL (a TCP proxy that drops its connections and refuses new
/// ones), healed a moment later: the host recovers by itself and every acknowledged post is stored once.
/// </summary>
[Trait("Category", "Fast chaos")]
public sealed class PartitionTests(PostgresServer server)
{
    [Fact]
    public async Task A_Worker_cut_off_from_Postgres_resumes_when_the_partition_heals_and_stores_every_acknowledged_post_once()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var link = new TcpForwarder(server.Host, server.Port);
        link.Start();
        await using var worker = await InProcessWorker.StartAsync(Through(link, db), [typeof(ActivityFunctions)]);
        await using var api = new ApiFactory(db.Url);
        using var http = api.CreateClient();
        var accepted = new List<Guid>();
        accepted.Add(await PostAcceptedAsync(http, "before the partition"));
        await StoredAsync(db, accepted);

        link.Cut();
        for (var i = 0; i < 20; i++)
        {
            accepted.Add(await PostAcceptedAsync(http, $"during the partition {i}")); // the Api still reaches Postgres
        }
        // The Worker has met the partition (its connections are retried, logged), before it heals.
        await Eventually.ReachesAsync(() => worker.Logs.Lines.Count(l => l.Message.Contains("Hangfire connection", StringComparison.Ordinal)),
            n => n > 0, "the Worker's log of a failed Hangfire connection");
        link.Start();

        await StoredAsync(db, accepted);
        Assert.Equal(21L, await db.ScalarAsync<long>("SELECT count(*) FROM activities WHERE starts_with(message, 'partition:')"));
    }

    [Fact]
    public async Task An_Api_cut_off_from_Postgres_answers_503_and_accepts_again_when_the_partition_heals_losing_nothing_acknowledged()
    {
        await using var db = await TestDatabase.CreateAsync(server, seed: true);
        await using var link = new TcpForwarder(server.Host, server.Port);
        link.Start();
        await using var worker = await InProcessWorker.StartAsync(db.Url, [typeof(ActivityFunctions)]);
        await using var api = new ApiFactory(Through(link, db));
        using var http = api.CreateClient();
        var accepted = new List<Guid> { await PostAcceptedAsync(http, "before the partition") };

        link.Cut();
        using var refused = await PostAsync(http, "during the partition");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode); // not acknowledged, so the client knows to retry
        Assert.True(refused.Headers.RetryAfter is not null, "a 503 without Retry-After");
        link.Start();

        // Accepting again once healed (a pooled connection broken by the partition may fail one more post: 503).
        var healed = await Eventually.ReachesAsync(async () => (int)(await PostAsync(http, "after the partition")).StatusCode, status => status == 202,
            "a post accepted after the partition healed (last status)");
        accepted.Add(await PostAcceptedAsync(http, "after the partition, again"));

        await StoredAsync(db, accepted);
        Assert.Equal(202, healed);
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM activities WHERE message = 'partition: during the partition'"));
    }

    private static string Through(TcpForwarder link, TestDatabase db) =>
        db.Url.Replace($":{link.TargetPort}/", $":{link.Port}/", StringComparison.Ordinal);

    private static Task<HttpResponseMessage> PostAsync(HttpClient http, string message) =>
        http.PostAsync(new Uri("/api/activities", UriKind.Relative), new StringContent(
            JsonSerializer.Serialize(new { user_handle = "bayko", message = $"partition: {message}", ttl = "1-day" }), Encoding.UTF8, "application/json"));

    private static async Task<Guid> PostAcceptedAsync(HttpClient http, string message)
    {
        using var response = await PostAsync(http, message);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("uuid").GetGuid();
    }

    // Every acknowledged post stored, each exactly once.
    private static async Task StoredAsync(TestDatabase db, List<Guid> accepted)
    {
        var uuids = string.Join(',', accepted.Select(uuid => $"'{uuid}'"));
        var stored = await Eventually.ReachesAsync(() => db.ScalarAsync<long>($"SELECT count(*) FROM activities WHERE uuid IN ({uuids})"),
            n => n >= accepted.Count, $"{accepted.Count} acknowledged posts stored (stored so far)");
        Assert.Equal(accepted.Count, stored);
    }
}

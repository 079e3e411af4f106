using System.Diagnostics;
using Cruddur.Tests.Fixtures;

namespace Cruddur.Tests.Chaos;

/// <summary>
/// (g) A Multi-AZ failover as RDS does it: a primary with a synchronous streaming standby behind one endpoint; under a
/// signed-in POST load with sign-ups on the queue the primary's host is lost (its packets go nowhere, its processes
/// get <c>kill -9</c>), the standby is promoted and the endpoint moved to it. Nobody restarts the Api or the Worker.
/// </summary>
[Collection(ChaosSettings.Serial)]
public sealed class FailoverTests(MotoServer moto)
{
    /// <summary>
    /// The quick case in bin/test: a steady load (4 clients, 50 ms apart) and a gap of 12 s, as long as the kernel takes to
    /// break a connection to the lost host (DatabaseNetwork's TCP keepalive and TCP_USER_TIMEOUT): with a 6 s gap, the
    /// Worker's fetches in flight at the loss held it until 6-7 s after the move. Resume bound 10 s, with the rest of the
    /// suite running beside it; the issue's 5 s is asserted by the bin/chaos case.
    /// </summary>
    [Fact]
    [Trait("Category", "Fast chaos")]
    public Task After_a_failover_to_a_synchronous_standby_every_acknowledged_post_and_sign_up_is_stored_once() =>
        FailOverUnderLoadAsync("(g) failover, fast", posts: 100_000, gap: TimeSpan.FromSeconds(12), after: TimeSpan.FromSeconds(3),
            resumeBound: TimeSpan.FromSeconds(10), pause: TimeSpan.FromMilliseconds(50));

    /// <summary>bin/chaos: CHAOS_POSTS posts at most, a gap of 15 s, the first post stored within 5 s of the move.</summary>
    [Fact]
    [Trait("Category", "Chaos")]
    public Task A_failover_under_load_loses_nothing_acknowledged_and_the_processes_resume_by_themselves() =>
        FailOverUnderLoadAsync("(g) failover", posts: ChaosSettings.Posts, gap: TimeSpan.FromSeconds(15), after: TimeSpan.FromSeconds(10),
            resumeBound: TimeSpan.FromSeconds(5));

    private async Task FailOverUnderLoadAsync(string scenario, int posts, TimeSpan gap, TimeSpan after, TimeSpan resumeBound, TimeSpan pause = default)
    {
        Assert.SkipUnless(LoopbackPacketDrop.Available, "dropping packets needs root and tc");
        var setup = Stopwatch.StartNew();
        var (stack, standby) = await EndpointStack.StartAsync(moto, standby: true);
        TestContext.Current.TestOutputHelper?.WriteLine($"set up in {setup.Elapsed.TotalSeconds:0.0} s");
        await using var _ = stack;
        var load = new ActivityLoad([stack.ApiUrl], $"g-failover-{Guid.NewGuid():N}"[..20], posts, concurrency: 4, authors: stack.AccessTokens, pause: pause);
        using var stop = new CancellationTokenSource();
        using var stopWatching = new CancellationTokenSource();
        var posting = load.RunAsync(stop.Token);
        var signingUp = stack.SendSignUpsAsync(TimeSpan.FromMilliseconds(250), stop.Token);
        await Eventually.ReachesAsync(() => load.Accepted.Count, accepted => accepted >= 50, $"50 posts accepted before the failover ({string.Join("; ", load.Unexpected.Take(3))})");

        await stack.Endpoint.SilenceAsync(); // the primary's host is gone: its packets are dropped, nobody hears a reset
        var watching = stack.WatchHealthAsync(stopWatching.Token); // from the first moment of the gap
        var clock = Stopwatch.StartNew();
        await stack.Primary.KillAsync();
        await Task.Delay(gap);
        await standby!.PromoteAsync();
        await stack.Endpoint.MoveToAsync(standby.Host, standby.Port);
        var moved = clock.Elapsed;
        await stack.FailOverTo(standby);
        var (postResume, signUpResume) = await stack.FirstStoredAsync(load);

        await stack.HealthyAgainAsync("the failover");
        var recovered = clock.Elapsed;
        await stopWatching.CancelAsync();
        var health = await watching;
        await Task.Delay(after);
        await stop.CancelAsync();
        await posting;
        await signingUp;

        TestContext.Current.TestOutputHelper?.WriteLine($"load stopped at {setup.Elapsed.TotalSeconds:0.0} s");
        var counts = await ChaosCounts.SettleAsync(stack.Direct, load, scenario, TimeSpan.FromSeconds(120));
        var users = await stack.SignUpsSettledAsync();
        TestContext.Current.TestOutputHelper?.WriteLine($"settled at {setup.Elapsed.TotalSeconds:0.0} s");
        var apiLog = EndpointStack.OutageLines(stack.Api);
        var workerLog = EndpointStack.OutageLines(stack.Worker);
        var gapHealth = health.Where(h => h.At < moved.TotalSeconds).ToList();
        (counts with
        {
            Notes = $"gap {moved.TotalSeconds:0.0} s (kill -9 to the endpoint moved); first post stored {postResume.TotalSeconds:0.0} s and first sign-up " +
                $"{signUpResume.TotalSeconds:0.0} s after the move; both health checks 200 again {(recovered - moved).TotalSeconds:0.0} s after it; " +
                $"503s {load.Unavailable} (without Retry-After {load.MissingRetryAfter}), other 5xx {load.ServerErrors}, no answer {load.Unanswered}, slowest answer {load.Slowest.TotalSeconds:0.0} s; " +
                $"sign-ups {stack.SignUpsAcknowledged} acknowledged by SQS, {users.Users} users ({users.Distinct} distinct); " +
                $"health in the gap: {string.Join(", ", gapHealth.GroupBy(h => (h.Process, h.Status)).Select(g => $"{g.Key.Process} {g.Key.Status} x{g.Count()}"))}; " +
                $"Api log: {apiLog.Lines} outage lines, first \"{apiLog.First}\"; Worker log: {workerLog.Lines}, first \"{workerLog.First}\"",
        }).Report();

        await PostgresRestartTests.WriteLostJobsAsync(stack.Direct, load);
        Assert.Empty(load.Unexpected);
        Assert.Equal(0, load.ServerErrors);
        Assert.Equal(0, load.MissingRetryAfter);
        Assert.Equal(0, counts.Lost);
        Assert.Equal(0, counts.Duplicates);
        Assert.Equal(counts.Acknowledged, counts.Stored);
        Assert.Equal(stack.SignUpsAcknowledged, users.Users);
        Assert.Equal(users.Users, users.Distinct);
        Assert.True(postResume < resumeBound, $"the first post was stored {postResume} after the endpoint moved (bound {resumeBound.TotalSeconds} s)");
        Assert.Contains(gapHealth, h => h is { Process: "Api /readyz", Status: 503 } && h.Reason.Contains("Postgres unreachable", StringComparison.Ordinal));
        Assert.Contains(gapHealth, h => h is { Process: "Worker /healthz", Status: 503 } && h.Reason.Contains("Postgres unreachable", StringComparison.Ordinal));
        Assert.False(stack.Api.HasExited, "the Api exited");
        Assert.False(stack.Worker.HasExited, "the Worker exited");
        Assert.True(apiLog.Lines > 0 && workerLog.Lines > 0, "a process did not log the outage");
        Assert.Equal((0, 0), (apiLog.Leaks, workerLog.Leaks));
    }
}

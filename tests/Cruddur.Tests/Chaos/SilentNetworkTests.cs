using Cruddur.Shared.Data;
using Cruddur.Tests.Fixtures;

namespace Cruddur.Tests.Chaos;

/// <summary>
/// (h) A silent network: the database's endpoint drops every packet in both directions for 30 s (no RST, no FIN: open
/// connections stay open and carry nothing, new ones are never answered), then heals. What bounds the wait is
/// <see cref="DatabaseNetwork"/>'s timeouts; nothing acknowledged may be lost, and nothing uncommitted acknowledged.
/// </summary>
[Trait("Category", "Chaos")]
[Collection(ChaosSettings.Serial)]
public sealed class SilentNetworkTests(MotoServer moto)
{
    /// <summary>
    /// The longest a POST may take while the network is silent: a statement's timeout and its cancellation on a dead
    /// connection (5 + 1 s), then a connect that is never answered (3 s), twice over for a post that waits for the batch
    /// committing before its own (ActivityBatcher commits one batch at a time).
    /// </summary>
    public static readonly TimeSpan PostBound = TimeSpan.FromSeconds(2 * (DatabaseNetwork.CommandTimeoutSeconds + 1 + DatabaseNetwork.ConnectTimeoutSeconds));

    private static readonly TimeSpan Silence = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Thirty_seconds_of_dropped_packets_get_503s_within_the_bound_and_the_Worker_and_ingress_resume_within_5_seconds_of_the_heal()
    {
        Assert.SkipUnless(LoopbackPacketDrop.Available, "dropping packets needs root and tc");
        var (stack, _) = await EndpointStack.StartAsync(moto);
        await using var _ = stack;
        var load = new ActivityLoad([stack.ApiUrl], $"h-silent-{Guid.NewGuid():N}"[..18], ChaosSettings.Posts, concurrency: 4, authors: stack.AccessTokens,
            pause: TimeSpan.FromMilliseconds(20));
        using var stop = new CancellationTokenSource();
        var posting = load.RunAsync(stop.Token);
        var signingUp = stack.SendSignUpsAsync(TimeSpan.FromMilliseconds(250), stop.Token);
        await Eventually.ReachesAsync(() => load.Accepted.Count, accepted => accepted >= 50, $"50 posts accepted before the silence ({string.Join("; ", load.Unexpected.Take(3))})");

        var acceptedBefore = load.Accepted.Count;
        await stack.Endpoint.SilenceAsync();
        await Task.Delay(Silence);
        var acceptedDuring = load.Accepted.Count - acceptedBefore;
        await stack.Endpoint.HealAsync();
        var (postResume, signUpResume) = await stack.FirstStoredAsync(load);
        await Task.Delay(5000);
        await stop.CancelAsync();
        await posting;
        await signingUp;

        var counts = await ChaosCounts.SettleAsync(stack.Direct, load, "(h) silent network 30 s", TimeSpan.FromSeconds(120));
        var users = await stack.SignUpsSettledAsync();
        var apiLog = EndpointStack.OutageLines(stack.Api);
        var workerLog = EndpointStack.OutageLines(stack.Worker);
        (counts with
        {
            Notes = $"first post stored {postResume.TotalSeconds:0.0} s and first sign-up {signUpResume.TotalSeconds:0.0} s after the heal; " +
                $"{acceptedDuring} posts answered 202 during the silence; 503s {load.Unavailable} (without Retry-After {load.MissingRetryAfter}), other 5xx {load.ServerErrors}, " +
                $"no answer {load.Unanswered}, slowest answer {load.Slowest.TotalSeconds:0.0} s (bound {PostBound.TotalSeconds:0} s); " +
                $"sign-ups {stack.SignUpsAcknowledged} acknowledged by SQS, {users.Users} users ({users.Distinct} distinct); " +
                $"Api log: {apiLog.Lines} outage lines, first \"{apiLog.First}\"; Worker log: {workerLog.Lines}, first \"{workerLog.First}\"",
        }).Report();

        Assert.Empty(load.Unexpected);
        Assert.Equal(0, load.ServerErrors);
        Assert.True(load.Unavailable > 0, "no post met the silence: the fault was not observed");
        Assert.Equal(0, load.MissingRetryAfter);
        Assert.Equal(0, load.Unanswered); // each POST was answered (503) rather than left hanging to the client's timeout
        Assert.True(load.Slowest < PostBound, $"an answer took {load.Slowest} (bound {PostBound})");
        Assert.Equal(0, counts.Lost);
        Assert.Equal(0, counts.Duplicates);
        Assert.Equal(counts.Acknowledged, counts.Stored);
        Assert.Equal(stack.SignUpsAcknowledged, users.Users);
        Assert.Equal(users.Users, users.Distinct);
        Assert.True(postResume < TimeSpan.FromSeconds(5), $"the Worker stored its first post {postResume} after the heal (bound 5 s)");
        Assert.True(signUpResume < TimeSpan.FromSeconds(5), $"the first sign-up was stored {signUpResume} after the heal (bound 5 s)");
        Assert.False(stack.Api.HasExited || stack.Worker.HasExited, "a process exited");
        Assert.Equal((0, 0), (apiLog.Leaks, workerLog.Leaks));
    }
}

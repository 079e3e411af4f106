using System.Diagnostics;
using System.Globalization;
using Hangfire;
using Hangfire.PostgreSql;
using Npgsql;

namespace Cruddur.Bench.Baseline;

/// <summary>
/// Stock Hangfire.PostgreSql as its README sets it up (default options, default filters, one job per
/// activity), enqueued from as many threads as bin/bench's HTTP connections, then executed by a default
/// BackgroundJobServer.
/// </summary>
internal static class HangfireBaseline
{
    public const string Usage = "hangfire <connection-string> <jobs> <enqueue-threads>";

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length != 3)
        {
            Console.Error.WriteLine($"usage: Cruddur.Bench.Baseline {Usage}");
            return 2;
        }
        var connectionString = args[0];
        var jobs = int.Parse(args[1], CultureInfo.InvariantCulture);
        var threads = int.Parse(args[2], CultureInfo.InvariantCulture);
        // As many enqueuing threads as HTTP connections, at once (the pool would otherwise add them slowly).
        ThreadPool.SetMinThreads(threads + 16, threads + 16);
        StoreActivity.DataSource = NpgsqlDataSource.Create(connectionString);
        GlobalConfiguration.Configuration.UsePostgreSqlStorage(o => o.UseNpgsqlConnection(connectionString));

        var handles = await Counters.HandlesAsync(StoreActivity.DataSource);
        var before = await Counters.ReadAsync(StoreActivity.DataSource);
        var clock = Stopwatch.StartNew();
        var next = -1;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ =>
        {
            var client = new BackgroundJobClient();
            int n;
            while ((n = Interlocked.Increment(ref next)) < jobs)
            {
                var handle = handles[n % handles.Count];
                var message = $"baseline post {n}";
                var uuid = Guid.CreateVersion7();
                client.Enqueue(() => StoreActivity.Run(uuid, handle, message));
            }
        });
        var enqueueSeconds = clock.Elapsed.TotalSeconds;
        var afterEnqueue = await Counters.ReadAsync(StoreActivity.DataSource);
        Console.WriteLine(FormattableString.Invariant($"enqueue_per_s={jobs / enqueueSeconds:0}"));
        Console.WriteLine(FormattableString.Invariant($"enqueue_xacts_per_job={(afterEnqueue.Xid - before.Xid) / (double)jobs:0.00}"));

        var storedBefore = await Counters.ActivitiesAsync(StoreActivity.DataSource);
        clock.Restart();
        using (new BackgroundJobServer())
        {
            var deadline = TimeSpan.FromSeconds(600);
            while (await Counters.ActivitiesAsync(StoreActivity.DataSource) - storedBefore < jobs && clock.Elapsed < deadline)
            {
                await Task.Delay(100);
            }
        }
        var executeSeconds = clock.Elapsed.TotalSeconds;
        var stored = await Counters.ActivitiesAsync(StoreActivity.DataSource) - storedBefore;
        var after = await Counters.ReadAsync(StoreActivity.DataSource);
        Console.WriteLine(FormattableString.Invariant($"execute_per_s={stored / executeSeconds:0}"));
        Console.WriteLine(FormattableString.Invariant($"end_to_end_per_s={stored / (enqueueSeconds + executeSeconds):0}"));
        Console.WriteLine(FormattableString.Invariant($"xacts_per_job={(after.Xid - before.Xid) / (double)jobs:0.00}"));
        Console.WriteLine(FormattableString.Invariant($"stored={stored}"));
        return stored == jobs ? 0 : 1;
    }
}

using Cruddur.Bench.Baseline;

// bin/bench's baselines, each printing key=value lines:
//   hangfire ...   stock Hangfire.PostgreSql, one job per activity (HangfireBaseline)
//   sqs-roundtrip  moto_server's own send + receive + delete rate, with no Cruddur code in the loop (SqsBaseline)
//   sqs-send       the same sign-up events sent to the Api's queue, for bin/bench to time their ingest
//   rate ...       POST or GET at a constant rate, latency counted from each request's due time (OpenLoop)
//   rate-alternating ...  the same to two servers in alternating slices, each side's figures over its slices
//   readable ...   signed-in POSTs at a constant rate, and the time from a 202 until the post can be read (Readable)
return args.FirstOrDefault() switch
{
    "hangfire" => await HangfireBaseline.RunAsync(args[1..]),
    "sqs-roundtrip" => await SqsBaseline.RoundTripAsync(args[1..]),
    "sqs-send" => await SqsBaseline.SendOnlyAsync(args[1..]),
    "rate" => await OpenLoop.RunAsync(args[1..]),
    "rate-alternating" => await OpenLoop.RunAlternatingAsync(args[1..]),
    "readable" => await Readable.RunAsync(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine($"usage: Cruddur.Bench.Baseline {HangfireBaseline.Usage}\n       Cruddur.Bench.Baseline {SqsBaseline.Usage}\n       Cruddur.Bench.Baseline {OpenLoop.Usage}\n       Cruddur.Bench.Baseline {OpenLoop.AlternatingUsage}\n       Cruddur.Bench.Baseline {Readable.Usage}");
    return 2;
}

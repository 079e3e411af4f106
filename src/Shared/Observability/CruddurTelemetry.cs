using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Cruddur.Shared.Observability;

/// <summary>
/// Cruddur's own traces and metrics (the function host's invocations, the SQS ingress), and the OpenTelemetry
/// wiring both processes share: exported with OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set, not collected otherwise.
/// </summary>
public static class CruddurTelemetry
{
    public const string Name = "Cruddur";

    public static ActivitySource Source { get; } = new(Name);

    private static readonly Meter Meter = new(Name);

    public static Counter<long> Invocations { get; } =
        Meter.CreateCounter<long>("cruddur.function.invocations", "{invocation}", "Function invocations, by function and outcome.");

    // Seconds, as OpenTelemetry's semantic conventions say for durations; the buckets are theirs for
    // http.server.request.duration, since the SDK's defaults (0, 5, 10 ... 10000) were made for milliseconds.
    public static Histogram<double> InvocationDuration { get; } =
        Meter.CreateHistogram<double>("cruddur.function.duration", "s", "How long function invocations take.", tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10] });

    public static Counter<long> SqsReceived { get; } =
        Meter.CreateCounter<long>("cruddur.sqs.messages.received", "{message}", "SQS messages received by the ingress.");

    public static Counter<long> SqsDeadLettered { get; } =
        Meter.CreateCounter<long>("cruddur.sqs.messages.dead_lettered", "{message}", "SQS messages moved to the dead-letter queue.");

    public static Counter<long> ActivitiesPurged { get; } =
        Meter.CreateCounter<long>("cruddur.activities.purged", "{activity}", "Expired activities deleted by the purge timer.");

    /// <summary>
    /// Traces and metrics for <paramref name="service"/>, exported with OTLP, when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>
    /// is set; <paramref name="tracing"/> and <paramref name="metrics"/> add what only that process has. Without an
    /// exporter nothing is registered: a sampled span per request and per Npgsql command would be recorded for nobody.
    /// The instrumented code (spans of <see cref="Source"/>, the meters) still serves any other listener, such as dotnet-counters.
    /// </summary>
    public static IServiceCollection AddCruddurTelemetry(
        this IServiceCollection services, IConfiguration configuration, string service,
        Action<TracerProviderBuilder>? tracing = null, Action<MeterProviderBuilder>? metrics = null)
    {
        if (string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            return services;
        }
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(service))
            .WithTracing(builder =>
            {
                builder.AddSource(Name).AddNpgsql();
                tracing?.Invoke(builder);
            })
            .WithMetrics(builder =>
            {
                builder.AddMeter(Name);
                metrics?.Invoke(builder);
            })
            .UseOtlpExporter();
        return services;
    }
}

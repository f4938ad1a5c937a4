using Hub.Core.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Hub.Core.Telemetry;

/// <summary>
/// OpenTelemetry for every role (API.md, Observability): Hub's meter and activity sources, ASP.NET Core's,
/// HttpClient's, SqlClient's and MassTransit's. <c>HUB_METRICS=true</c> serves <c>/metrics</c>;
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> exports traces, metrics and logs over OTLP (the other standard
/// OTEL_* variables apply: protocol, headers, service name, sampler). With neither, no provider is built:
/// instruments have no listener and cost a branch; only the trace context is kept (see TracePropagation).
/// </summary>
public static class TelemetryExtensions
{
    /// <summary>Paths whose requests are not traced: probes and scrapes would drown the traces worth reading.</summary>
    private static readonly PathString[] Unsampled = ["/healthz", "/readyz", "/metrics"];

    public static IHostApplicationBuilder AddHubTelemetry(this IHostApplicationBuilder builder)
    {
        var hub = builder.HubOptions();
        builder.Services.AddMetrics();
        builder.Services.AddSingleton<HubMetrics>();
        TracePropagation.EnsureListening();
        builder.AddHubLogging(hub);

        if (!hub.Metrics && !hub.UsesOtlp) return builder;
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r =>
            {
                // OTEL_SERVICE_NAME, when set, names the process (e.g. hub-api, hub-dispatcher). Each process is an instance
                // of its own (host name and PID: two API replicas are two series, not one that flips between them), unless
                // OTEL_RESOURCE_ATTRIBUTES names it.
                var name = builder.Configuration["OTEL_SERVICE_NAME"];
                var named = builder.Configuration["OTEL_RESOURCE_ATTRIBUTES"]?.Contains("service.instance.id=", StringComparison.Ordinal) == true;
                r.AddService(string.IsNullOrWhiteSpace(name) ? "hub" : name,
                    serviceVersion: typeof(TelemetryExtensions).Assembly.GetName().Version?.ToString(),
                    autoGenerateServiceInstanceId: false,
                    serviceInstanceId: named ? null : $"{Environment.MachineName}-{Environment.ProcessId}");
                r.AddAttributes([new("hub.roles", hub.Roles)]);
            })
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(HubMetrics.MeterName, MassTransit.Monitoring.InstrumentationOptions.MeterName);
                // http.server.* by route template (Kestrel's and the host's meters). HttpClient's meter is left out:
                // its server.address label would carry every customer's webhook host.
                metrics.AddAspNetCoreInstrumentation();
                if (hub.Metrics) metrics.AddPrometheusExporter();
            });

        if (hub.UsesOtlp)
        {
            otel.WithTracing(tracing => tracing
                    .AddSource(HubTracing.SourcePattern, MassTransit.Logging.DiagnosticHeaders.DefaultListenerName,
                        "Microsoft.AspNetCore.SignalR.Server")
                    .AddAspNetCoreInstrumentation(o => o.Filter = http => !Unsampled.Contains(http.Request.Path))
                    .AddHttpClientInstrumentation()
                    .AddSqlClientInstrumentation())
                .WithLogging(_ => { }, o =>
                {
                    o.IncludeFormattedMessage = true;
                    o.IncludeScopes = true;
                })
                .UseOtlpExporter();
        }
        return builder;
    }

    /// <summary><c>GET /metrics</c> (Prometheus text format) when <c>HUB_METRICS=true</c>, on every role; otherwise it is a 404.</summary>
    public static WebApplication MapHubTelemetry(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<HubOptions>>().Value.Metrics)
            app.MapPrometheusScrapingEndpoint("/metrics").AllowAnonymous().ExcludeFromDescription();
        return app;
    }

    private static void AddHubLogging(this IHostApplicationBuilder builder, HubOptions hub)
    {
        builder.Logging.AddConsoleFormatter<HubConsoleFormatter, HubConsoleFormatterOptions>(o =>
        {
            o.Json = hub.LogFormat == "json";
            o.IncludeScopes = o.Json;
        });
        builder.Services.Configure<ConsoleLoggerOptions>(o => o.FormatterName = HubConsoleFormatter.FormatterName);
    }
}

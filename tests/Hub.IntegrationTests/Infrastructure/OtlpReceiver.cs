using System.IO.Compression;
using Hub.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hub.IntegrationTests.Infrastructure;

/// <summary>A span as exported: the process (<c>service.name</c>), the activity source (scope), its name and ids (lower-case hex).</summary>
public sealed record OtlpSpan(string Service, string Scope, string Name, string TraceId, string SpanId, string ParentSpanId);

/// <summary>A log record as exported; <see cref="TraceId"/> is empty when it was written outside any trace.</summary>
public sealed record OtlpLog(string Service, string Scope, string TraceId, string Body);

/// <summary>A metric as exported (its name only: the values are checked on <c>/metrics</c>).</summary>
public sealed record OtlpMetric(string Service, string Scope, string Name);

/// <summary>
/// An OpenTelemetry collector on loopback, OTLP/HTTP with protobuf bodies (<c>OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf</c>):
/// answers 200 to <c>POST /v1/traces</c>, <c>/v1/metrics</c> and <c>/v1/logs</c>, keeps every body and reads from it
/// the few fields the suite asserts on (<see cref="Protobuf"/>; field numbers from opentelemetry-proto's
/// trace.proto, logs.proto, metrics.proto, resource.proto and common.proto).
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Lock _gate = new();
    private readonly List<(string Signal, byte[] Body)> _bodies = [];

    private OtlpReceiver(WebApplication app) => _app = app;

    public static async Task<OtlpReceiver> StartAsync()
    {
        var app = LoopbackServer.Create();
        var receiver = new OtlpReceiver(app);
        foreach (var signal in new[] { "traces", "metrics", "logs" })
            app.MapPost($"/v1/{signal}", http => receiver.ReceiveAsync(signal, http));
        receiver.Endpoint = (await LoopbackServer.StartAsync(app)).ToString().TrimEnd('/');
        return receiver;
    }

    /// <summary>What <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> should be (the exporter appends <c>/v1/traces</c> and so on).</summary>
    public string Endpoint { get; private set; } = "";

    /// <summary>How many bodies arrived for a signal (<c>traces</c>, <c>metrics</c>, <c>logs</c>).</summary>
    public int Bodies(string signal)
    {
        lock (_gate) return _bodies.Count(b => b.Signal == signal);
    }

    public IReadOnlyList<OtlpSpan> Spans() =>
        Items("traces", (service, scope, span) => new OtlpSpan(service, scope,
            Text(span, 5), Hex(span, 1), Hex(span, 2), Hex(span, 4)));

    public IReadOnlyList<OtlpLog> Logs() =>
        Items("logs", (service, scope, record) => new OtlpLog(service, scope,
            Hex(record, 9), Protobuf.First(record, 5) is { } body ? Text(body, 1) : ""));

    public IReadOnlyList<OtlpMetric> Metrics() =>
        Items("metrics", (service, scope, metric) => new OtlpMetric(service, scope, Text(metric, 1)));

    /// <summary>
    /// The three export requests share one shape: field 1 repeats Resource{Spans,Logs,Metrics}, each with the
    /// Resource (1) and Scope{Spans,Logs,Metrics} (2), each with the InstrumentationScope (1) and the items (2).
    /// </summary>
    private List<T> Items<T>(string signal, Func<string, string, ReadOnlyMemory<byte>, T> item)
    {
        byte[][] bodies;
        lock (_gate) bodies = [.. _bodies.Where(b => b.Signal == signal).Select(b => b.Body)];
        var items = new List<T>();
        foreach (var body in bodies)
        foreach (var resourceItems in Protobuf.Messages(body, 1))
        {
            var service = Protobuf.First(resourceItems, 1) is { } resource ? ServiceName(resource) : "";
            foreach (var scopeItems in Protobuf.Messages(resourceItems, 2))
            {
                var scope = Protobuf.First(scopeItems, 1) is { } instrumentationScope ? Text(instrumentationScope, 1) : "";
                items.AddRange(Protobuf.Messages(scopeItems, 2).Select(i => item(service, scope, i)));
            }
        }
        return items;
    }

    /// <summary>Resource.attributes (1) are KeyValue{key (1), value (2): AnyValue{string_value (1)}}.</summary>
    private static string ServiceName(ReadOnlyMemory<byte> resource) =>
        Protobuf.Messages(resource, 1)
            .Where(kv => Text(kv, 1) == "service.name")
            .Select(kv => Protobuf.First(kv, 2) is { } value ? Text(value, 1) : "")
            .FirstOrDefault() ?? "";

    private static string Text(ReadOnlyMemory<byte> message, int number) =>
        Protobuf.First(message, number) is { } bytes ? System.Text.Encoding.UTF8.GetString(bytes.Span) : "";

    private static string Hex(ReadOnlyMemory<byte> message, int number) =>
        Protobuf.First(message, number) is { } bytes ? Convert.ToHexStringLower(bytes.Span) : "";

    private async Task ReceiveAsync(string signal, HttpContext http)
    {
        using var body = new MemoryStream();
        var source = http.Request.Headers.ContentEncoding.ToString() == "gzip"
            ? new GZipStream(http.Request.Body, CompressionMode.Decompress)
            : http.Request.Body;
        await source.CopyToAsync(body, http.RequestAborted);
        lock (_gate) _bodies.Add((signal, body.ToArray()));
        // An empty Export*ServiceResponse: everything accepted.
        http.Response.StatusCode = 200;
        http.Response.ContentType = "application/x-protobuf";
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

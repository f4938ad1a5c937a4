using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Hub.Bench.Fakes;

/// <summary>
/// A loopback OTLP/HTTP receiver that accepts and discards (<c>OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf</c>):
/// <c>POST /v1/traces</c>, <c>/v1/metrics</c> and <c>/v1/logs</c> answer 200 with an empty body, as a collector
/// does, so the <c>telemetry</c> scenario measures what exporting costs Hub and not a collector's speed. It counts
/// posts, bytes and items (spans, metrics, log records) so the bench can show that the export really ran.
/// </summary>
public static class OtlpSink
{
    private static readonly string[] Signals = ["traces", "metrics", "logs"];
    private static readonly long[] Posts = new long[3], Bytes = new long[3], Items = new long[3], Unreadable = new long[3];

    public static async Task ReceiveAsync(HttpContext http)
    {
        var signal = Array.IndexOf(Signals, http.Request.RouteValues["signal"] as string);
        if (signal < 0)
        {
            http.Response.StatusCode = 404;
            return;
        }
        using var body = new MemoryStream();
        await http.Request.Body.CopyToAsync(body);
        Interlocked.Increment(ref Posts[signal]);
        Interlocked.Add(ref Bytes[signal], body.Length);
        // Gzip is not what the .NET exporter sends by default; a body that does not parse is counted, not guessed at.
        if (http.Request.Headers.ContentEncoding.Count == 0 && CountItems(body.GetBuffer().AsSpan(0, (int)body.Length)) is { } items)
            Interlocked.Add(ref Items[signal], items);
        else Interlocked.Increment(ref Unreadable[signal]);
        // ExportTraceServiceResponse (and the others) with no partial_success: an empty protobuf message.
        http.Response.StatusCode = 200;
        http.Response.ContentType = "application/x-protobuf";
    }

    public static Task StatsAsync(HttpContext http)
    {
        var json = new JsonObject();
        for (var i = 0; i < Signals.Length; i++)
            json[Signals[i]] = new JsonObject
            {
                ["posts"] = Interlocked.Read(ref Posts[i]),
                ["bytes"] = Interlocked.Read(ref Bytes[i]),
                ["items"] = Interlocked.Read(ref Items[i]),
                ["unreadable"] = Interlocked.Read(ref Unreadable[i]),
            };
        return FakeServers.WriteJsonAsync(http, json);
    }

    /// <summary>
    /// The three OTLP export requests share one shape: field 1 repeats Resource{Spans,Metrics,Logs}, whose field 2
    /// repeats Scope{Spans,Metrics,Logs}, whose field 2 repeats the items. Counts the items; null if the bytes are not
    /// that protobuf.
    /// </summary>
    public static long? CountItems(ReadOnlySpan<byte> request)
    {
        long count = 0;
        return Walk(request, 0, ref count) ? count : null;
    }

    private static bool Walk(ReadOnlySpan<byte> message, int depth, ref long count)
    {
        var wanted = depth == 0 ? 1 : 2;
        var at = 0;
        while (at < message.Length)
        {
            if (!Varint(message, ref at, out var key)) return false;
            var field = (int)(key >> 3);
            switch ((int)(key & 7))
            {
                case 0:
                    if (!Varint(message, ref at, out _)) return false;
                    break;
                case 1:
                    at += 8;
                    break;
                case 5:
                    at += 4;
                    break;
                case 2:
                    if (!Varint(message, ref at, out var length) || length > (ulong)(message.Length - at)) return false;
                    var inner = message.Slice(at, (int)length);
                    at += (int)length;
                    if (field != wanted) break;
                    if (depth == 2) count++;
                    else if (!Walk(inner, depth + 1, ref count)) return false;
                    break;
                default:
                    return false;
            }
            if (at > message.Length) return false;
        }
        return true;
    }

    private static bool Varint(ReadOnlySpan<byte> data, ref int at, out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 64 && at < data.Length; shift += 7)
        {
            var b = data[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return true;
        }
        return false;
    }
}

using System.Text;
using System.Text.Json;
using Hub.Core.Hosting;
using Microsoft.AspNetCore.Http.Features;

namespace Hub.Api.Messages;

/// <summary>One SSE frame: an event with JSON data, or a comment (<c>: ping</c>).</summary>
public readonly record struct SseFrame(string? Event, object? Data, string? Comment = null)
{
    public static SseFrame Ping { get; } = new(null, null, "ping");
}

/// <summary>
/// Writes <c>text/event-stream</c>, flushing each frame. Written here rather than with
/// <c>TypedResults.ServerSentEvents</c> because the contract needs comment frames (<c>: ping</c>), which
/// the framework's SSE formatter cannot emit.
/// </summary>
public sealed class ServerSentEventsResult(IAsyncEnumerable<SseFrame> frames) : IResult
{
    public async Task ExecuteAsync(HttpContext http)
    {
        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        http.Response.Headers["X-Accel-Buffering"] = "no";
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await http.Response.Body.FlushAsync(http.RequestAborted);

        var body = http.Response.Body;
        var metrics = http.RequestServices?.GetService<Hub.Core.Telemetry.HubMetrics>();
        metrics?.SseStreamOpened();
        try
        {
            await foreach (var frame in frames.WithCancellation(http.RequestAborted))
            {
                await body.WriteAsync(Format(frame), http.RequestAborted);
                await body.FlushAsync(http.RequestAborted);
            }
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The caller went away; the reply is still produced and stored.
        }
        finally
        {
            metrics?.SseStreamClosed();
        }
    }

    public static byte[] Format(SseFrame frame)
    {
        if (frame.Comment is not null) return Encoding.UTF8.GetBytes($": {frame.Comment}\n\n");
        var json = JsonSerializer.Serialize(frame.Data, HubJson.Options);
        return Encoding.UTF8.GetBytes($"event: {frame.Event}\ndata: {json}\n\n");
    }
}

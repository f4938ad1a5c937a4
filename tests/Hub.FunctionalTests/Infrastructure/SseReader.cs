using System.Text.Json.Nodes;

namespace Hub.FunctionalTests.Infrastructure;

/// <summary>One frame of a <c>text/event-stream</c> body: an event with JSON data, or a comment.</summary>
public sealed record SseFrame(string? Event, JsonObject? Data, string? Comment)
{
    public bool IsPing => Comment == "ping";
}

public static class SseReader
{
    /// <summary>Reads the raw body to its end (so the stream must end) within a generous timeout.</summary>
    public static async Task<string> ReadToEndAsync(HttpResponseMessage response, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            return await response.Content.ReadAsStringAsync(cts.Token);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException("The event stream did not end.");
        }
    }

    /// <summary>
    /// Splits the wire text into frames and holds each to the contract's shape: either
    /// <c>event: name\ndata: {json}\n\n</c> or a <c>: comment\n\n</c>, nothing else.
    /// </summary>
    public static List<SseFrame> Parse(string raw)
    {
        Assert.DoesNotContain("\r", raw);
        Assert.EndsWith("\n\n", raw);
        var frames = new List<SseFrame>();
        foreach (var block in raw[..^2].Split("\n\n"))
        {
            var lines = block.Split('\n');
            if (lines is [var comment] && comment.StartsWith(": "))
            {
                frames.Add(new SseFrame(null, null, comment[2..]));
                continue;
            }
            Assert.True(lines.Length == 2, $"An event is one event line and one data line: {block}");
            Assert.StartsWith("event: ", lines[0]);
            Assert.StartsWith("data: ", lines[1]);
            frames.Add(new SseFrame(lines[0]["event: ".Length..], JsonNode.Parse(lines[1]["data: ".Length..])!.AsObject(), null));
        }
        return frames;
    }

    public static async Task<List<SseFrame>> ReadFramesAsync(HttpResponseMessage response, TimeSpan? timeout = null) =>
        Parse(await ReadToEndAsync(response, timeout));
}

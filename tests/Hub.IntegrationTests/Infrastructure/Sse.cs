using System.Text.Json.Nodes;

namespace Hub.IntegrationTests.Infrastructure;

/// <summary>One event of a <c>text/event-stream</c> body (comments such as <c>: ping</c> are dropped).</summary>
public sealed record SseEvent(string Event, JsonObject Data);

public static class Sse
{
    /// <summary>Reads the stream to its end (every Hub stream ends) and returns its events.</summary>
    public static async Task<List<SseEvent>> ReadAllAsync(HttpResponseMessage response, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        var raw = await response.Content.ReadAsStringAsync(cts.Token);
        var events = new List<SseEvent>();
        foreach (var block in raw.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            string? name = null, data = null;
            foreach (var line in block.Split('\n'))
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line["event: ".Length..];
                else if (line.StartsWith("data: ", StringComparison.Ordinal)) data = line["data: ".Length..];
            }
            if (name is not null && data is not null) events.Add(new SseEvent(name, JsonNode.Parse(data)!.AsObject()));
        }
        return events;
    }
}

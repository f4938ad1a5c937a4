using System.Diagnostics;
using System.Text.Json;
using Hub.Core.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Hub.UnitTests.Core;

public sealed class HubConsoleFormatterTests
{
    private static readonly ActivitySource Source = new("Hub.UnitTests.Formatter");

    [Fact]
    public void A_json_line_carries_the_trace_and_span_ids_the_message_and_its_named_values()
    {
        using var listener = Listen();
        using var activity = Source.StartActivity("request")!;

        var line = Write(json: true, LogLevel.Warning, "Webhook {DeliveryId} try {Try} failed", "evt_1", 3, new InvalidOperationException("boom"));

        var entry = JsonDocument.Parse(line).RootElement;
        Assert.Equal("warning", entry.GetProperty("level").GetString());
        Assert.Equal("Hub.Dispatcher", entry.GetProperty("category").GetString());
        Assert.Equal("Webhook evt_1 try 3 failed", entry.GetProperty("message").GetString());
        Assert.Equal(activity.TraceId.ToHexString(), entry.GetProperty("trace_id").GetString());
        Assert.Equal(activity.SpanId.ToHexString(), entry.GetProperty("span_id").GetString());
        Assert.Equal("evt_1", entry.GetProperty("attributes").GetProperty("DeliveryId").GetString());
        Assert.Equal(3, entry.GetProperty("attributes").GetProperty("Try").GetInt64());
        Assert.False(entry.GetProperty("attributes").TryGetProperty("{OriginalFormat}", out _));
        Assert.Contains("boom", entry.GetProperty("exception").GetString());
        Assert.True(DateTimeOffset.TryParse(entry.GetProperty("timestamp").GetString(), out _));
        Assert.Single(line.TrimEnd().Split('\n'));
    }

    [Fact]
    public void A_json_line_outside_any_trace_has_no_trace_id()
    {
        Activity.Current = null;

        var entry = JsonDocument.Parse(Write(json: true, LogLevel.Information, "Started", null, null, null)).RootElement;

        Assert.False(entry.TryGetProperty("trace_id", out _));
        Assert.Equal("Started", entry.GetProperty("message").GetString());
    }

    [Fact]
    public void A_text_line_names_the_trace()
    {
        using var listener = Listen();
        using var activity = Source.StartActivity("request")!;

        var text = Write(json: false, LogLevel.Error, "Could not store {Count} attempts", 2, null, null);

        Assert.StartsWith($"fail: Hub.Dispatcher[7] trace_id={activity.TraceId.ToHexString()}", text);
        Assert.Contains("      Could not store 2 attempts", text);
    }

    private static string Write(bool json, LogLevel level, string template, object? first, object? second, Exception? exception)
    {
        var options = new HubConsoleFormatterOptions { Json = json, IncludeScopes = json };
        using var formatter = new HubConsoleFormatter(new StaticOptions(options));
        var state = new TemplateState(template, [first, second]);
        using var writer = new StringWriter();
        formatter.Write(new LogEntry<TemplateState>(level, "Hub.Dispatcher", new EventId(7), state, exception, (s, _) => s.ToString()),
            new LoggerExternalScopeProvider(), writer);
        return writer.ToString();
    }

    /// <summary>What a logger's message template gives a formatter: the named values, the template, and the rendered text.</summary>
    private sealed class TemplateState(string template, object?[] values) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        private readonly List<KeyValuePair<string, object?>> _pairs = System.Text.RegularExpressions.Regex.Matches(template, @"\{(\w+)\}")
            .Select((m, i) => new KeyValuePair<string, object?>(m.Groups[1].Value, values[i]))
            .Append(new KeyValuePair<string, object?>("{OriginalFormat}", template)).ToList();

        public KeyValuePair<string, object?> this[int index] => _pairs[index];
        public int Count => _pairs.Count;
        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => _pairs.GetEnumerator();
        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() =>
            _pairs.Where(p => p.Key != "{OriginalFormat}").Aggregate(template, (text, p) => text.Replace("{" + p.Key + "}", Convert.ToString(p.Value)));
    }

    private static ActivityListener Listen()
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "Hub.UnitTests.Formatter",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }

    private sealed class StaticOptions(HubConsoleFormatterOptions value) : IOptionsMonitor<HubConsoleFormatterOptions>
    {
        public HubConsoleFormatterOptions CurrentValue => value;
        public HubConsoleFormatterOptions Get(string? name) => value;
        public IDisposable? OnChange(Action<HubConsoleFormatterOptions, string?> listener) => null;
    }
}

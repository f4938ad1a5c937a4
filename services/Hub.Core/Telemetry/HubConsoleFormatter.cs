using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Hub.Core.Telemetry;

public sealed class HubConsoleFormatterOptions : ConsoleFormatterOptions
{
    /// <summary>One JSON object per line (<c>HUB_LOG_FORMAT=json</c>) instead of readable text.</summary>
    public bool Json { get; set; }
}

/// <summary>
/// The console format, text or JSON, both carrying the entry's <c>trace_id</c> and <c>span_id</c> so that a
/// line in the log leads to its trace and to the <c>trace_id</c> a client got in a problem. The framework's
/// JSON formatter only nests them inside scope messages; this one puts them at the top level, with the
/// message's named values as fields of their own:
/// <code>{"timestamp":"…","level":"warning","category":"Hub.Dispatcher…","event_id":0,"message":"…",
///  "trace_id":"4bf9…","span_id":"00f0…","attributes":{"DeliveryId":"evt_…"},"exception":"…"}</code>
/// Formatting runs on the logging thread (the console logger queues the finished line), so
/// <see cref="Activity.Current"/> is the caller's.
/// </summary>
public sealed class HubConsoleFormatter : ConsoleFormatter, IDisposable
{
    public const string FormatterName = "hub";
    private readonly IDisposable? _reload;
    private HubConsoleFormatterOptions _options;

    public HubConsoleFormatter(IOptionsMonitor<HubConsoleFormatterOptions> options) : base(FormatterName)
    {
        _options = options.CurrentValue;
        _reload = options.OnChange(o => _options = o);
    }

    public override void Write<TState>(in LogEntry<TState> entry, IExternalScopeProvider? scopes, TextWriter writer)
    {
        var message = entry.Formatter?.Invoke(entry.State, entry.Exception);
        if (message is null && entry.Exception is null) return;
        var activity = Activity.Current;
        if (_options.Json) WriteJson(entry, message, activity, scopes, writer);
        else WriteText(entry, message, activity, writer);
    }

    private void WriteText<TState>(in LogEntry<TState> entry, string? message, Activity? activity, TextWriter writer)
    {
        var text = new StringBuilder(128);
        if (_options.TimestampFormat is { } format)
            text.Append((_options.UseUtcTimestamp ? DateTimeOffset.UtcNow : DateTimeOffset.Now).ToString(format)).Append(' ');
        text.Append(ShortLevel(entry.LogLevel)).Append(": ").Append(entry.Category).Append('[').Append(entry.EventId.Id).Append(']');
        if (activity is not null) text.Append(" trace_id=").Append(activity.TraceId.ToHexString());
        text.Append(Environment.NewLine);
        if (message is not null) text.Append("      ").Append(message.Replace(Environment.NewLine, Environment.NewLine + "      ")).Append(Environment.NewLine);
        if (entry.Exception is not null) text.Append(entry.Exception).Append(Environment.NewLine);
        writer.Write(text.ToString());
    }

    private void WriteJson<TState>(in LogEntry<TState> entry, string? message, Activity? activity, IExternalScopeProvider? scopes, TextWriter writer)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("timestamp", DateTimeOffset.UtcNow);
            json.WriteString("level", LevelName(entry.LogLevel));
            json.WriteString("category", entry.Category);
            json.WriteNumber("event_id", entry.EventId.Id);
            if (entry.EventId.Name is { } eventName) json.WriteString("event_name", eventName);
            if (message is not null) json.WriteString("message", message);
            if (activity is not null)
            {
                json.WriteString("trace_id", activity.TraceId.ToHexString());
                json.WriteString("span_id", activity.SpanId.ToHexString());
            }
            json.WriteStartObject("attributes");
            var written = new HashSet<string>(StringComparer.Ordinal);
            if (entry.State is IEnumerable<KeyValuePair<string, object?>> values) WriteValues(json, values, written);
            if (_options.IncludeScopes && scopes is not null)
                scopes.ForEachScope(static (scope, state) =>
                {
                    if (scope is IEnumerable<KeyValuePair<string, object?>> values) WriteValues(state.json, values, state.written);
                }, (json, written));
            json.WriteEndObject();
            if (entry.Exception is not null) json.WriteString("exception", entry.Exception.ToString());
            json.WriteEndObject();
        }
        writer.Write(Encoding.UTF8.GetString(buffer.WrittenSpan));
        writer.Write(Environment.NewLine);
    }

    private static void WriteValues(Utf8JsonWriter json, IEnumerable<KeyValuePair<string, object?>> values, HashSet<string> written)
    {
        foreach (var (key, value) in values)
        {
            // The template is the message already; the activity IDs are top-level fields; the message's own value wins over a scope's.
            if (key is "{OriginalFormat}" or "SpanId" or "TraceId" or "ParentId" || !written.Add(key)) continue;
            switch (value)
            {
                case null: json.WriteNull(key); break;
                case bool b: json.WriteBoolean(key, b); break;
                case int or long or short or byte or uint or ulong or ushort or sbyte:
                    json.WriteNumber(key, Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture)); break;
                case double or float or decimal:
                    json.WriteNumber(key, Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture)); break;
                default: json.WriteString(key, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)); break;
            }
        }
    }

    private static string ShortLevel(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => "none",
    };

    private static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Trace => "trace",
        LogLevel.Debug => "debug",
        LogLevel.Information => "information",
        LogLevel.Warning => "warning",
        LogLevel.Error => "error",
        LogLevel.Critical => "critical",
        _ => "none",
    };

    public void Dispose() => _reload?.Dispose();
}

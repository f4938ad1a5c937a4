using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Hub.Bench;

/// <summary>The readable table, the goals of issue 6 and the machine the numbers came from.</summary>
public static class Report
{
    public static JsonObject Machine(ulong fileLimit)
    {
        string? cpu = null;
        double? memGb = null;
        try
        {
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
            var mem = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            if (mem is not null) memGb = Math.Round(long.Parse(mem[9..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0 / 1024.0, 1);
        }
        catch (IOException) { }
        return new JsonObject
        {
            ["nproc"] = Environment.ProcessorCount,
            ["cpu"] = cpu ?? RuntimeInformation.ProcessArchitecture.ToString(),
            ["memory_gb"] = memGb,
            ["os"] = RuntimeInformation.OSDescription,
            ["runtime"] = RuntimeInformation.FrameworkDescription,
            ["open_files_limit"] = fileLimit,
            ["load_average_at_start"] = LoadAverage(),
        };
    }

    /// <summary>The 1-minute load average: other work on the machine skews every number here.</summary>
    public static double? LoadAverage()
    {
        try { return double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture); }
        catch (Exception e) when (e is IOException or FormatException) { return null; }
    }

    private sealed record Goal(string Name, string Text, double? Value, string Unit, bool? Met, string? Note = null);

    /// <summary>Issue 6's goals, judged on this run; null Met when the run did not measure it.</summary>
    private static List<Goal> Goals(JsonObject results, bool quick)
    {
        double? V(string scenario, string field) => Num(results[scenario]?[field]);
        var goals = new List<Goal>();

        var bo50 = V("blocking", "hub_p50_ms") - V("blocking", "direct_p50_ms");
        var bo99 = V("blocking", "hub_p99_ms") - V("blocking", "direct_p99_ms");
        goals.Add(new("blocking_overhead_p50", "blocking overhead p50 <= 2 ms", bo50, "ms", bo50 is { } a ? a <= 2 : null));
        goals.Add(new("blocking_overhead_p99", "blocking overhead p99 <= 10 ms", bo99, "ms", bo99 is { } b ? b <= 10 : null));
        var st = V("streaming", "hub_ttft_p50_ms") - V("streaming", "direct_ttft_p50_ms");
        goals.Add(new("streaming_ttft_overhead_p50", "streaming first-token overhead p50 <= 3 ms", st, "ms", st is { } c ? c <= 3 : null));
        var wh = V("webhook_e2e", "msgs_per_s");
        goals.Add(new("webhook_e2e", "webhook end to end >= 2,000 msgs/s", wh, "msgs/s", wh is { } d ? d >= 2000 : null));
        var ratio = V("dispatch", "per_s") / V("dispatch", "direct_posts_per_s");
        goals.Add(new("dispatch_ratio", "dispatcher >= 50 % of the bare HttpClient loop", ratio * 100, "%", ratio is { } e ? e >= 0.5 : null));
        var lost = V("retry_storm", "lost");
        var dup = V("retry_storm", "duplicates");
        var delivered = V("retry_storm", "delivered");
        var messages = V("retry_storm", "messages");
        goals.Add(new("retry_storm", "retry storm: 0 lost, 0 duplicated", (lost ?? 0) + (dup ?? 0), "lost+dup",
            lost is null || dup is null ? null : lost == 0 && dup == 0 && delivered >= messages));
        var streams = V("sse_hold", "streams");
        var rss = V("sse_hold", "rss_mb");
        if (streams is { } s && rss is { } r)
        {
            if (s >= 5000) goals.Add(new("sse_hold", ">= 5,000 SSE streams under 500 MB", r, "MB", r < 500));
            else
            {
                var projected = V("sse_hold", "idle_rss_mb") + V("sse_hold", "kb_per_stream") * 5000 / 1024;
                goals.Add(new("sse_hold", ">= 5,000 SSE streams under 500 MB", r, "MB", null,
                    $"held {s:0}{(quick ? " (--quick)" : "")}; 5,000 projected at {projected:0} MB"));
            }
        }
        else goals.Add(new("sse_hold", ">= 5,000 SSE streams under 500 MB", null, "MB", null));
        return goals;
    }

    public static JsonObject GoalsJson(JsonObject results, bool quick)
    {
        var json = new JsonObject();
        foreach (var g in Goals(results, quick))
        {
            var o = new JsonObject { ["goal"] = g.Text, ["value"] = g.Value is { } v ? Math.Round(v, 2) : null, ["met"] = g.Met };
            if (g.Note is not null) o["note"] = g.Note;
            json[g.Name] = o;
        }
        return json;
    }

    public static string Table(JsonObject results, JsonObject machine, bool quick)
    {
        var rows = new List<string[]>();
        void Row(string scenario, string metric, string value) => rows.Add([scenario, metric, value]);
        string F(string scenario, string field, int digits = 2) =>
            Num(results[scenario]?[field]) is { } v ? v.ToString("N" + digits, CultureInfo.InvariantCulture) : "—";

        Row("blocking", "direct p50 / p99 (ms)", $"{F("blocking", "direct_p50_ms")} / {F("blocking", "direct_p99_ms")}");
        Row("", "hub p50 / p99 (ms)", $"{F("blocking", "hub_p50_ms")} / {F("blocking", "hub_p99_ms")}");
        Row("", "overhead p50 / p99 (ms)", $"{F("blocking", "overhead_p50_ms")} / {F("blocking", "overhead_p99_ms")}");
        Row("", "hub CPU per request (ms)", $"{F("blocking", "hub_cpu_ms_per_request")} ({F("blocking", "hub_cpu_ms_per_request_net_of_idle")} net of idle)");
        Row("", "ref: GET / POST conversation p50 (ms)", $"{F("blocking", "hub_get_conversation_p50_ms")} / {F("blocking", "hub_create_conversation_p50_ms")}");
        Row("streaming", "direct / hub TTFT p50 (ms)", $"{F("streaming", "direct_ttft_p50_ms")} / {F("streaming", "hub_ttft_p50_ms")}");
        Row("", "direct / hub TTFT p99 (ms)", $"{F("streaming", "direct_ttft_p99_ms")} / {F("streaming", "hub_ttft_p99_ms")}");
        Row("", "TTFT overhead p50 (ms)", F("streaming", "ttft_overhead_p50_ms"));
        string Partial(string scenario, string field) =>
            results[scenario]?["completed"] is JsonValue c && c.GetValueKind() == JsonValueKind.False
                ? $"  (deadline reached with {F(scenario, field, 0)} received)" : "";
        Row("webhook_e2e", "messages in seconds", $"{F("webhook_e2e", "messages", 0)} in {F("webhook_e2e", "seconds")}{Partial("webhook_e2e", "received")}");
        Row("", "msgs/s end to end", F("webhook_e2e", "msgs_per_s", 0));
        Row("", "accepts/s (202s only)", F("webhook_e2e", "accepts_per_s", 0));
        Row("", "hub CPU per message (ms)", F("webhook_e2e", "hub_cpu_ms_per_message"));
        const string rmq = "webhook_e2e_rabbitmq";
        if (results[rmq]?["skipped"] is { } skipped) Row(rmq, "not measured", skipped.GetValue<string>());
        else
        {
            Row(rmq, "messages in seconds", $"{F(rmq, "messages", 0)} in {F(rmq, "seconds")}{Partial(rmq, "received")}");
            Row("", "msgs/s end to end", F(rmq, "msgs_per_s", 0));
            Row("", "accepts/s (202s only)", F(rmq, "accepts_per_s", 0));
            var byRole = results[rmq]?["hub_cpu_ms_per_message_by_role"] as JsonObject;
            Row("", "hub CPU per message, 3 processes (ms)", F(rmq, "hub_cpu_ms_per_message")
                + (byRole is null ? "" : $" ({string.Join(", ", byRole.Select(r => $"{r.Key} {(Num(r.Value) is { } v ? v.ToString("N2", CultureInfo.InvariantCulture) : "—")}"))})"));
        }
        Row("dispatch", "deliveries in seconds", $"{F("dispatch", "deliveries", 0)} in {F("dispatch", "seconds")}{Partial("dispatch", "received")}");
        Row("", "dispatcher / bare loop (/s)", $"{F("dispatch", "per_s", 0)} / {F("dispatch", "direct_posts_per_s", 0)}");
        Row("", "hub CPU per delivery (ms)", F("dispatch", "hub_cpu_ms_per_delivery"));
        Row("retry_storm", "messages, fail rate", $"{F("retry_storm", "messages", 0)}, {F("retry_storm", "fail_rate")}");
        Row("", "delivered / lost / duplicates", $"{F("retry_storm", "delivered", 0)} / {F("retry_storm", "lost", 0)} / {F("retry_storm", "duplicates", 0)}");
        Row("", "tries (failed) in seconds", $"{F("retry_storm", "tries", 0)} ({F("retry_storm", "failed_tries", 0)}) in {F("retry_storm", "seconds")}{Partial("retry_storm", "delivered")}");
        Row("", "still in flight at the deadline", F("retry_storm", "still_in_flight_at_deadline", 0));
        Row("sse_hold", "streams held / RSS (MB)", $"{F("sse_hold", "streams", 0)} / {F("sse_hold", "rss_mb", 1)}");
        Row("", "idle RSS (MB), KB per stream", $"{F("sse_hold", "idle_rss_mb", 1)}, {F("sse_hold", "kb_per_stream", 1)}");
        if (results["telemetry"] is JsonObject telemetry && telemetry["off"] is not null)
        {
            // Only when asked for (--only telemetry): a default run does not measure it.
            string T(string mode, string field, int digits = 2) =>
                Num(telemetry[mode]?[field]) is { } v ? v.ToString("N" + digits, CultureInfo.InvariantCulture) : "—";
            string Cost(string mode) => Num(telemetry[mode]?["cpu_cost_vs_off_pct"]) is { } v
                ? $", {v:+0.0;-0.0} % vs off" + (Num(telemetry[mode]?["cpu_cost_vs_off_pct_median_of_rounds"]) is { } r ? $" ({r:+0.0;-0.0} % round by round)" : "")
                : "";
            var first = true;
            foreach (var mode in new[] { "off", "metrics", "otlp" })
            {
                Row(first ? "telemetry" : "", $"{mode}: hub CPU per message (ms), msgs/s",
                    $"{T(mode, "hub_cpu_ms_per_message", 3)}{Cost(mode)}, {T(mode, "msgs_per_s", 0)}");
                first = false;
            }
            Row("", "rounds, messages each", $"{F("telemetry", "rounds", 0)}, {F("telemetry", "messages", 0)}");
        }

        var sb = new StringBuilder();
        sb.AppendLine($"Hub.Bench {(quick ? "--quick" : "(full)")} on {machine["nproc"]} × {machine["cpu"]}, {machine["memory_gb"]} GB, {machine["runtime"]}, load average {machine["load_average_at_start"]} at start, {LoadAverage()} at end");
        var w0 = Math.Max(11, rows.Max(r => r[0].Length));
        var w1 = rows.Max(r => r[1].Length);
        sb.AppendLine($"{"scenario".PadRight(w0)}  {"metric".PadRight(w1)}  value");
        sb.AppendLine(new string('-', w0 + w1 + 24));
        foreach (var r in rows) sb.AppendLine($"{r[0].PadRight(w0)}  {r[1].PadRight(w1)}  {r[2]}");
        foreach (var (name, node) in results)
            if (node?["error"] is { } error) sb.AppendLine($"{name}: FAILED: {error}");

        sb.AppendLine();
        sb.AppendLine("goals (issue 6, on 2 cores)");
        foreach (var g in Goals(results, quick))
        {
            var verdict = g.Met switch { true => "met", false => "NOT MET", null => "not measured" };
            var value = g.Value is { } v ? $"{v.ToString("N2", CultureInfo.InvariantCulture)} {g.Unit}" : "—";
            sb.AppendLine($"  {g.Text.PadRight(48)} {value.PadLeft(16)}  {verdict}{(g.Note is null ? "" : "  (" + g.Note + ")")}");
        }
        return sb.ToString();
    }

    public static double? Num(JsonNode? node)
    {
        if (node is not JsonValue value || value.GetValueKind() != JsonValueKind.Number) return null;
        var d = double.Parse(value.ToJsonString(), CultureInfo.InvariantCulture);
        return double.IsFinite(d) ? d : null;
    }

    /// <summary>NaN and infinities are not JSON numbers: they become null.</summary>
    public static void Sanitize(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var key in o.Select(p => p.Key).ToList())
                {
                    if (o[key] is JsonValue v && v.TryGetValue<double>(out var d) && !double.IsFinite(d)) o[key] = null;
                    else Sanitize(o[key]);
                }
                break;
            case JsonArray a:
                foreach (var item in a) Sanitize(item);
                break;
        }
    }
}

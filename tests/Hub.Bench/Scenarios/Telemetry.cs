using System.Globalization;
using System.Text.Json.Nodes;
using Hub.Bench.Infrastructure;
using static Hub.Bench.Infrastructure.Stats;

namespace Hub.Bench.Scenarios;

/// <summary>
/// <c>telemetry</c>: what observability costs a webhook-mode message. <c>webhook_e2e</c>'s measurement (same size,
/// same warm-up), made twice on each Hub and the second one kept, on three embedded Hubs started one after the other, each on a fresh SQLite file: telemetry
/// <c>off</c>; <c>metrics</c> (<c>HUB_METRICS=true</c>, and the bench scrapes <c>/metrics</c> every second as
/// Prometheus would); <c>otlp</c> (traces, metrics and logs exported over OTLP/HTTP protobuf to the fakes' sink,
/// which accepts and discards). The machine is shared, so the three are run for several rounds, the order reversed
/// every other round (off, metrics, otlp, then otlp, metrics, off) so that a drift in the machine's load does not
/// fall on one mode; each mode reports its median.
/// </summary>
public static class Telemetry
{
    public const string Name = "telemetry";

    private static readonly string[] Modes = ["off", "metrics", "otlp"];

    public static async Task<JsonObject> RunAsync(BenchRun run)
    {
        var rounds = run.Settings.TelemetryRounds;
        var runs = Modes.ToDictionary(m => m, _ => new List<JsonObject>());
        for (var round = 0; round < rounds; round++)
        {
            var order = round % 2 == 0 ? Modes : Modes.Reverse().ToArray();
            foreach (var mode in order)
            {
                var one = await OneAsync(run, mode, round);
                Console.WriteLine($"  round {round + 1}/{rounds} {mode,-7}: {one["hub_cpu_ms_per_message"]} ms CPU per message, "
                    + $"{one["msgs_per_s"]} msgs/s{(one["completed"]?.GetValue<bool>() == false ? " (deadline reached)" : "")} "
                    + $"(first pass: {one["first_pass"]?["hub_cpu_ms_per_message"]} ms, {one["first_pass"]?["msgs_per_s"]} msgs/s)");
                runs[mode].Add(one);
            }
        }

        var result = new JsonObject
        {
            ["messages"] = run.Settings.WebhookMessages,
            ["rounds"] = rounds,
        };
        var offCpu = Median(runs["off"], "hub_cpu_ms_per_message");
        var offRate = Median(runs["off"], "msgs_per_s");
        foreach (var mode in Modes)
        {
            var cpu = Median(runs[mode], "hub_cpu_ms_per_message");
            var rate = Median(runs[mode], "msgs_per_s");
            var summary = new JsonObject
            {
                ["hub_cpu_ms_per_message"] = Round(cpu, 3),
                ["msgs_per_s"] = Round(rate, 1),
                ["completed"] = runs[mode].All(r => r["completed"]?.GetValue<bool>() == true),
                ["first_pass_hub_cpu_ms_per_message"] = Round(Median(runs[mode].Select(r => r["first_pass"] as JsonObject).OfType<JsonObject>().ToList(),
                    "hub_cpu_ms_per_message"), 3),
                ["runs"] = new JsonArray(runs[mode].Select(r => (JsonNode)r).ToArray()),
            };
            if (mode != "off")
            {
                summary["cpu_cost_vs_off_pct"] = Round((cpu / offCpu - 1) * 100, 1);
                summary["msgs_per_s_vs_off_pct"] = Round((rate / offRate - 1) * 100, 1);
                // Each round against the off Hub of the same round (measured next to it): a drift in the machine's load
                // over the run cancels out of these, not out of the medians' ratio above.
                var byRound = runs[mode].Zip(runs["off"], (m, off) => new JsonObject
                {
                    ["hub_cpu_ms_per_message"] = Round((Report.Num(m["hub_cpu_ms_per_message"]) ?? double.NaN)
                        / (Report.Num(off["hub_cpu_ms_per_message"]) ?? double.NaN) * 100 - 100, 1),
                }).ToList();
                summary["cpu_cost_vs_off_pct_by_round"] = new JsonArray(byRound.Select(r => r["hub_cpu_ms_per_message"]!.DeepClone()).ToArray());
                summary["cpu_cost_vs_off_pct_median_of_rounds"] = Round(Median(byRound, "hub_cpu_ms_per_message"), 1);
            }
            result[mode] = summary;
        }
        return result;
    }

    private static double Median(List<JsonObject> runs, string field)
    {
        var values = runs.Select(r => Report.Num(r[field])).OfType<double>().Order().ToArray();
        if (values.Length == 0) return double.NaN;
        return values.Length % 2 == 1 ? values[values.Length / 2] : (values[values.Length / 2 - 1] + values[values.Length / 2]) / 2;
    }

    private static async Task<JsonObject> OneAsync(BenchRun run, string mode, int round)
    {
        var settings = mode switch
        {
            "metrics" => new Dictionary<string, string?> { ["HUB_METRICS"] = "true" },
            "otlp" => new Dictionary<string, string?>
            {
                ["OTEL_EXPORTER_OTLP_ENDPOINT"] = run.Fakes.OtlpUrl,
                ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
                ["OTEL_SERVICE_NAME"] = "hub-bench",
            },
            _ => new Dictionary<string, string?>(),
        };
        var name = $"telemetry-{mode}-{round + 1}";
        var sinkBefore = mode == "otlp" ? await run.Fakes.OtlpAsync() : null;
        var hub = await run.StartHubAsync(Path.Combine(run.WorkDir, name + ".db"), settings, name + ".log");
        JsonObject result;
        double messagesSent = 0;
        Scraper? scraper = null;
        try
        {
            using var client = HubApi.NewClient();
            var api = new HubApi(client, hub.Url);
            // Scraped from start to end, warm-up included, as Prometheus scrapes a running Hub; its cost is Hub's.
            if (mode == "metrics") scraper = Scraper.Start(hub.Url);
            // Two passes; the first one is warm-up. A fresh Hub keeps recompiling its hot paths (tiered JIT, dynamic PGO)
            // for many seconds, on the same two cores; webhook_e2e's own 1,000-message warm-up is not enough on a Hub that
            // served nothing before (in a default run, webhook_e2e comes after the latency rounds), and that JIT work, larger
            // with telemetry on, would be counted as telemetry's cost. The first pass is reported, not compared.
            var first = await Webhooks.EndToEndAsync(run, [new Webhooks.HubRole("all", hub)], api, name + "-first", run.Settings.WebhookMessages,
                run.Settings.WebhookDeadline);
            result = await Webhooks.EndToEndAsync(run, [new Webhooks.HubRole("all", hub)], api, name, run.Settings.WebhookMessages,
                run.Settings.WebhookDeadline);
            messagesSent = (Report.Num(first["warmup_messages"]) ?? 0) + (Report.Num(first["accepted"]) ?? 0)
                + (Report.Num(result["warmup_messages"]) ?? 0) + (Report.Num(result["accepted"]) ?? 0);
            result["first_pass"] = new JsonObject
            {
                ["hub_cpu_ms_per_message"] = first["hub_cpu_ms_per_message"]?.DeepClone(),
                ["msgs_per_s"] = first["msgs_per_s"]?.DeepClone(),
                ["completed"] = first["completed"]?.DeepClone(),
            };
            if (scraper is not null) result["scrape"] = await scraper.StopAsync();
            // A graceful stop flushes what the exporters still hold, so the sink's counts below are complete.
            await hub.StopAsync();
        }
        finally
        {
            if (scraper is not null) await scraper.StopAsync();
            await hub.DisposeAsync();
        }
        result["mode"] = mode;
        result["round"] = round + 1;
        if (sinkBefore is not null) result["otlp"] = SinkDelta(sinkBefore, await run.Fakes.OtlpAsync(), messagesSent);
        return result;
    }

    /// <summary>What the sink received from this Hub, per signal; spans and log records also per message sent (both passes and their warm-ups).</summary>
    private static JsonObject SinkDelta(JsonObject before, JsonObject after, double messages)
    {
        var json = new JsonObject();
        foreach (var (signal, node) in after)
        {
            long Field(JsonNode? n, string f) => n?[f]?.GetValue<long>() ?? 0;
            var delta = new JsonObject();
            foreach (var field in new[] { "posts", "bytes", "items", "unreadable" })
                delta[field] = Field(node, field) - Field(before[signal], field);
            if (messages > 0 && signal != "metrics")
                delta["items_per_message"] = Round(delta["items"]!.GetValue<long>() / messages, 2);
            json[signal] = delta;
        }
        return json;
    }

    /// <summary>A scrape of <c>/metrics</c> every second, like a Prometheus with <c>scrape_interval: 1s</c>.</summary>
    private sealed class Scraper
    {
        private readonly CancellationTokenSource _stop = new();
        private Task<JsonObject>? _loop;

        public static Scraper Start(string hubUrl)
        {
            var scraper = new Scraper();
            scraper._loop = Task.Run(() => scraper.LoopAsync(hubUrl));
            return scraper;
        }

        private async Task<JsonObject> LoopAsync(string hubUrl)
        {
            using var http = HubApi.NewClient(TimeSpan.FromSeconds(10));
            long scrapes = 0, failures = 0, lastBytes = 0;
            double? acceptedSeries = null;
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
            try
            {
                do
                {
                    try
                    {
                        var text = await http.GetStringAsync(hubUrl + "/metrics", _stop.Token);
                        scrapes++;
                        lastBytes = text.Length;
                        acceptedSeries = AcceptedTotal(text) ?? acceptedSeries;
                    }
                    catch (HttpRequestException)
                    {
                        failures++;
                    }
                } while (await timer.WaitForNextTickAsync(_stop.Token));
            }
            catch (OperationCanceledException) { }
            return new JsonObject
            {
                ["scrapes"] = scrapes,
                ["failed"] = failures,
                ["last_bytes"] = lastBytes,
                // The scrape really saw Hub's own series move: the last hub_messages_accepted_total read.
                ["last_hub_messages_accepted_total"] = acceptedSeries,
            };
        }

        /// <summary>The sum of every <c>hub_messages_accepted_total</c> series in a scrape.</summary>
        private static double? AcceptedTotal(string text)
        {
            double? sum = null;
            foreach (var line in text.Split('\n'))
            {
                if (!line.StartsWith("hub_messages_accepted_total", StringComparison.Ordinal)) continue;
                // name{labels} value [timestamp]
                var rest = line.Contains('}') ? line[(line.LastIndexOf('}') + 1)..] : line["hub_messages_accepted_total".Length..];
                var value = rest.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
                if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) sum = (sum ?? 0) + v;
            }
            return sum;
        }

        public async Task<JsonObject> StopAsync()
        {
            _stop.Cancel();
            return await _loop!;
        }
    }
}

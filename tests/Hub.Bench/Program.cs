using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Hub.Bench;
using Hub.Bench.Fakes;
using Hub.Bench.Infrastructure;
using Hub.Bench.Scenarios;

if (args.FirstOrDefault() == "serve-fakes") return await FakeServers.RunAsync();

BenchSettings settings;
try
{
    settings = BenchSettings.Parse(args);
}
catch (Exception e) when (e is ArgumentException or FormatException)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(BenchSettings.Usage);
    return 2;
}

var fileLimit = FileLimit.Raise();
var machine = Report.Machine(fileLimit);
var repo = FindRepo();
var total = Stopwatch.StartNew();
Console.WriteLine($"Hub.Bench {(settings.Quick ? "--quick" : "full run")}: {machine["nproc"]} × {machine["cpu"]}, {machine["memory_gb"]} GB, open files {fileLimit}");

var dll = settings.HubDll ?? await HubProcess.BuildAsync(repo, settings.BuildHub, Console.Out);
Console.WriteLine($"Hub: {dll}");
var workDir = Path.Combine(Path.GetTempPath(), $"hub-bench-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Environment.ProcessId}");
Directory.CreateDirectory(workDir);
Console.WriteLine($"Work folder (databases, logs): {workDir}");

var results = new JsonObject();
var failed = false;
await using (var fakes = await FakesProcess.StartAsync(workDir))
{
    var run = new BenchRun(settings, fakes, workDir, dll);
    var database = Path.Combine(workDir, "hub.db");
    IReadOnlyList<BotInfo>? dispatchBots = null;

    if (settings.Runs("latency") || settings.Runs("blocking") || settings.Runs("streaming") || settings.Runs("webhook_e2e")
        || settings.Runs("retry_storm") || settings.Runs("dispatch"))
    {
        await using var hub = await run.StartHubAsync(database, new Dictionary<string, string?>(), "hub.log");
        using var client = HubApi.NewClient();
        var api = new HubApi(client, hub.Url);

        if (settings.Runs("latency") || settings.Runs("blocking") || settings.Runs("streaming"))
            await Step($"blocking + streaming: {settings.LatencyIterations} of each, interleaved, after {settings.LatencyWarmup} warm-up", async () =>
            {
                var (blocking, streaming) = await Latency.RunAsync(run, hub, api);
                results["blocking"] = blocking;
                results["streaming"] = streaming;
            }, ["blocking", "streaming"]);
        if (settings.Runs("webhook_e2e"))
            await Step($"webhook_e2e: {settings.WebhookMessages} messages, {settings.WebhookConcurrency} at a time",
                async () => results["webhook_e2e"] = await Webhooks.EndToEndAsync(run, hub, api), ["webhook_e2e"]);
        if (settings.Runs("retry_storm"))
            await Step($"retry_storm: {settings.StormMessages} messages, receiver failing 50 % of tries",
                async () => results["retry_storm"] = await Webhooks.RetryStormAsync(run, hub, api, database), ["retry_storm"]);
        if (settings.Runs("dispatch"))
            dispatchBots = await Dispatch.CreateBotsAsync(run, api);
    }

    // After the embedded Hub has stopped, so that only the three processes share the machine.
    if (settings.Runs(WebhooksRabbitMq.Name))
    {
        var unavailable = await WebhooksRabbitMq.UnavailableAsync(settings);
        if (unavailable is not null && !settings.Requested(WebhooksRabbitMq.Name))
        {
            // A default run measures what it can; asked for by name, the scenario fails instead (below).
            Console.WriteLine($"▶ {WebhooksRabbitMq.Name}: not measured: {unavailable}");
            results[WebhooksRabbitMq.Name] = new JsonObject { ["skipped"] = unavailable };
        }
        else
            await Step($"{WebhooksRabbitMq.Name}: {settings.RabbitMqWebhookMessages} messages, {settings.WebhookConcurrency} at a time, "
                + "to 3 processes (api, ai-worker, dispatcher) over RabbitMQ and Redis", async () =>
            {
                if (unavailable is not null)
                    throw new InvalidOperationException($"{unavailable}. Start RabbitMQ and Redis with `bash scripts/services.sh`, or pass --rabbitmq/--redis.");
                results[WebhooksRabbitMq.Name] = await WebhooksRabbitMq.RunAsync(run, Path.Combine(workDir, "rabbitmq.db"));
            }, [WebhooksRabbitMq.Name]);
    }

    if (dispatchBots is not null)
        await Step($"dispatch: {settings.DispatchDeliveries} stored deliveries over {settings.DispatchEndpoints} endpoints vs a bare HttpClient loop ({settings.DispatchConcurrency} at a time)",
            async () => results["dispatch"] = await Dispatch.RunAsync(run, dispatchBots, database), ["dispatch"]);
    if (settings.Runs("sse_hold"))
        await Step($"sse_hold: {settings.SseStreams} streams on a model that has not answered yet",
            async () => results["sse_hold"] = await SseHold.RunAsync(run, Path.Combine(workDir, "sse.db")), ["sse_hold"]);
    if (settings.Runs(Telemetry.Name))
        await Step($"{Telemetry.Name}: {settings.WebhookMessages} webhook messages on a Hub with telemetry off, with /metrics scraped every second, "
            + $"with OTLP export; {settings.TelemetryRounds} round(s)",
            async () => results[Telemetry.Name] = await Telemetry.RunAsync(run), [Telemetry.Name]);
}

Report.Sanitize(results);
Console.WriteLine();
Console.WriteLine(Report.Table(results, machine, settings.Quick));
Console.WriteLine($"Total {total.Elapsed.TotalSeconds:0} s.");

var document = new JsonObject
{
    ["blocking"] = results["blocking"]?.DeepClone(),
    ["streaming"] = results["streaming"]?.DeepClone(),
    ["webhook_e2e"] = results["webhook_e2e"]?.DeepClone(),
    ["webhook_e2e_rabbitmq"] = results[WebhooksRabbitMq.Name]?.DeepClone(),
    ["dispatch"] = results["dispatch"]?.DeepClone(),
    ["retry_storm"] = results["retry_storm"]?.DeepClone(),
    ["sse_hold"] = results["sse_hold"]?.DeepClone(),
    ["telemetry"] = results[Telemetry.Name]?.DeepClone(),
    ["goals"] = Report.GoalsJson(results, settings.Quick),
    ["machine"] = machine,
    ["run"] = new JsonObject
    {
        ["quick"] = settings.Quick,
        ["hub_dll"] = dll,
        ["seconds"] = Math.Round(total.Elapsed.TotalSeconds, 1),
        ["utc"] = DateTime.UtcNow.ToString("O"),
    },
};
Report.Sanitize(document);
if (settings.JsonPath is { } jsonPath)
{
    await File.WriteAllTextAsync(jsonPath, document.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    Console.WriteLine($"JSON written to {Path.GetFullPath(jsonPath)}");
}

if (settings.KeepWorkDir || failed) Console.WriteLine($"Logs and databases kept in {workDir}");
else
{
    try { Directory.Delete(workDir, recursive: true); } catch (IOException) { }
}
return failed ? 1 : 0;

async Task Step(string title, Func<Task> body, string[] names)
{
    Console.WriteLine($"▶ {title}");
    var watch = Stopwatch.StartNew();
    try
    {
        await body();
        Console.WriteLine($"  done in {watch.Elapsed.TotalSeconds:0.0} s");
    }
    catch (Exception e)
    {
        failed = true;
        Console.Error.WriteLine($"  FAILED after {watch.Elapsed.TotalSeconds:0.0} s: {e}");
        foreach (var name in names) results[name] = new JsonObject { ["error"] = e.Message };
    }
    Report.Sanitize(results);
}

static string FindRepo()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "Hub.sln"))) return dir.FullName;
    for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "Hub.sln"))) return dir.FullName;
    throw new InvalidOperationException("Hub.sln not found above the bench's folder or the current folder.");
}

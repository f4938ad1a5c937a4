using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Hub.Bench.Fakes;

namespace Hub.Bench.Infrastructure;

/// <summary>The bench's handle on the <c>serve-fakes</c> child: where the fakes listen, and their control API.</summary>
public sealed class FakesProcess : IAsyncDisposable
{
    private readonly ChildProcess _process;
    private readonly HttpClient _control;

    private FakesProcess(ChildProcess process, string llm, string receiver, string otlp)
    {
        _process = process;
        LlmUrl = llm;
        ReceiverUrl = receiver;
        OtlpUrl = otlp;
        _control = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>Base URL of the fake LLM (Hub's <c>HUB_LLM_BASE_URL</c> is this plus <c>/v1</c>).</summary>
    public string LlmUrl { get; }
    public string ReceiverUrl { get; }
    /// <summary>Base URL of the OTLP/HTTP sink: Hub's <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> (the exporter adds <c>/v1/traces</c> etc.).</summary>
    public string OtlpUrl { get; }
    public ChildProcess Process => _process;

    public string HookUrl(string name) => $"{ReceiverUrl}/hooks/{name}";

    public static async Task<FakesProcess> StartAsync(string workDir)
    {
        var ready = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var (file, args) = Self("serve-fakes");
        var process = ChildProcess.Start(file, args, new Dictionary<string, string?>
        {
            // Workstation GC keeps the fakes small; they share the machine with the hub.
            ["DOTNET_gcServer"] = "0",
        }, workDir, Path.Combine(workDir, "fakes.log"), line =>
        {
            if (line.StartsWith(FakeServers.ReadyPrefix, StringComparison.Ordinal)) ready.TrySetResult(line[FakeServers.ReadyPrefix.Length..]);
        });
        var line = await ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
        var json = JsonNode.Parse(line)!;
        return new FakesProcess(process, json["llm"]!.GetValue<string>(), json["receiver"]!.GetValue<string>(), json["otlp"]!.GetValue<string>());
    }

    /// <summary>This program again, with <paramref name="command"/>: the apphost if there is one, else <c>dotnet exec</c>.</summary>
    private static (string File, string[] Args) Self(string command)
    {
        var host = Environment.ProcessPath!;
        var dll = typeof(FakesProcess).Assembly.Location;
        return Path.GetFileNameWithoutExtension(host) == "dotnet"
            ? (host, ["exec", dll, command])
            : (host, [command]);
    }

    /// <summary>Clears hook <paramref name="name"/> and sets how it answers.</summary>
    public async Task ConfigureHookAsync(string name, double failRate = 0, string? secret = null, bool parseReplyTo = false)
    {
        var query = $"fail_rate={failRate.ToString(CultureInfo.InvariantCulture)}&parse={(parseReplyTo ? "1" : "0")}"
            + (secret is null ? "" : "&secret=" + Uri.EscapeDataString(secret));
        using var response = await _control.PostAsync($"{ReceiverUrl}/control/hooks/{name}?{query}", null);
        response.EnsureSuccessStatusCode();
    }

    public async Task<HookStats> HookAsync(string name, bool detail = false)
    {
        var json = (await _control.GetFromJsonAsync<JsonObject>($"{ReceiverUrl}/control/hooks/{name}{(detail ? "?detail=1" : "")}"))!;
        return new HookStats(
            json["tries"]!.GetValue<long>(), json["ok_tries"]!.GetValue<long>(), json["failed_tries"]!.GetValue<long>(),
            json["ok_ids"]!.GetValue<long>(), json["duplicate_ids"]!.GetValue<long>(),
            json["ok_reply_tos"]!.GetValue<long>(), json["duplicate_reply_tos"]!.GetValue<long>(),
            json["bad_signatures"]!.GetValue<long>(),
            json["first_ok_unix_ms"]!.GetValue<double>(), json["last_ok_unix_ms"]!.GetValue<double>(),
            json["reply_tos"]?.AsArray().Select(n => n!.GetValue<string>()).ToHashSet() ?? []);
    }

    public async Task<(long Requests, long InFlight)> LlmAsync()
    {
        var json = (await _control.GetFromJsonAsync<JsonObject>($"{LlmUrl}/control/llm"))!;
        return (json["requests"]!.GetValue<long>(), json["in_flight"]!.GetValue<long>());
    }

    /// <summary>What the OTLP sink has received so far: per signal (<c>traces</c>, <c>metrics</c>, <c>logs</c>) posts, bytes, items, unreadable.</summary>
    public async Task<JsonObject> OtlpAsync() => (await _control.GetFromJsonAsync<JsonObject>($"{OtlpUrl}/control/otlp"))!;

    public async ValueTask DisposeAsync()
    {
        _control.Dispose();
        await _process.DisposeAsync();
    }
}

public sealed record HookStats(long Tries, long OkTries, long FailedTries, long OkIds, long DuplicateIds,
    long OkReplyTos, long DuplicateReplyTos, long BadSignatures, double FirstOkUnixMs, double LastOkUnixMs,
    HashSet<string> ReplyTos);

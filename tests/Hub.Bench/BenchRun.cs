using Hub.Bench.Infrastructure;

namespace Hub.Bench;

/// <summary>What every scenario shares: the settings, the fakes, the temp folder and the Hub build.</summary>
public sealed class BenchRun(BenchSettings settings, FakesProcess fakes, string workDir, string hubDll)
{
    public BenchSettings Settings { get; } = settings;
    public FakesProcess Fakes { get; } = fakes;
    public string WorkDir { get; } = workDir;
    public string HubDll { get; } = hubDll;

    /// <summary>
    /// Settings every Hub of the run gets on top of <see cref="HubProcess.StartAsync"/>'s: the storm's short
    /// retry schedule (it changes nothing while no try fails).
    /// </summary>
    public Dictionary<string, string?> BaseSettings() => new()
    {
        ["HUB_WEBHOOK_RETRY_SCHEDULE"] = Settings.StormSchedule,
    };

    public Task<HubProcess> StartHubAsync(string database, IDictionary<string, string?> extra, string logName)
    {
        var all = BaseSettings();
        foreach (var (k, v) in extra) all[k] = v;
        foreach (var (k, v) in Settings.HubEnv) all[k] = v;
        return HubProcess.StartAsync(HubDll, WorkDir, database, Fakes.LlmUrl + "/v1", all, logName);
    }
}

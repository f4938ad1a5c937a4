using System.Diagnostics;

namespace Hub.Bench.Infrastructure;

/// <summary>
/// Hub as its own process: <c>dotnet services/Hub.Api/bin/Release/net10.0/Hub.Api.dll</c> on a free loopback
/// port, a SQLite file in the bench's temp folder, the fake LLM, private webhook URLs allowed and rate
/// limits out of the way. Each scenario may start it with its own extra settings.
/// </summary>
public sealed class HubProcess : IAsyncDisposable
{
    public const string AdminKey = "bench-admin-key-0123456789abcdef";

    private HubProcess(ChildProcess process, string url, IReadOnlyDictionary<string, string?> settings)
    {
        Process = process;
        Url = url;
        Settings = settings;
    }

    public ChildProcess Process { get; }
    public string Url { get; }
    public IReadOnlyDictionary<string, string?> Settings { get; }

    /// <summary>Builds services/Hub.Api in Release (the inbox page's npm step is skipped) and returns Hub.Api.dll.</summary>
    public static async Task<string> BuildAsync(string repo, bool build, TextWriter log)
    {
        var dll = Path.Combine(repo, "services", "Hub.Api", "bin", "Release", "net10.0", "Hub.Api.dll");
        if (!build)
        {
            if (!File.Exists(dll)) throw new InvalidOperationException($"{dll} does not exist; run without --no-build-hub.");
            return dll;
        }
        log.WriteLine("Building services/Hub.Api (Release)…");
        var info = new ProcessStartInfo(DotnetHost(), ["build", Path.Combine(repo, "services", "Hub.Api", "Hub.Api.csproj"),
            "-c", "Release", "-p:WebInboxBuild=false", "-nologo", "-v", "q", "-clp:ErrorsOnly"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = repo,
        };
        using var process = System.Diagnostics.Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            if (!File.Exists(dll)) throw new InvalidOperationException($"Building Hub.Api failed:\n{await output}\n{await errors}");
            log.WriteLine($"warning: building Hub.Api failed (exit {process.ExitCode}); using the existing {dll}\n{(await output).Trim()}");
        }
        return dll;
    }

    public static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    public static async Task<HubProcess> StartAsync(string dll, string workDir, string database, string llmBaseUrl,
        IDictionary<string, string?> extra, string logName)
    {
        var port = ChildProcess.FreePort();
        var url = $"http://127.0.0.1:{port}";
        var settings = new Dictionary<string, string?>
        {
            ["HUB_URLS"] = url,
            ["HUB_DATABASE"] = "sqlite",
            ["HUB_DATABASE_CONNECTION"] = $"Data Source={database}",
            ["HUB_ADMIN_KEY"] = AdminKey,
            ["HUB_LLM_BASE_URL"] = llmBaseUrl,
            ["HUB_LLM_API_KEY"] = "sk-bench",
            ["HUB_WEBHOOK_ALLOW_PRIVATE"] = "true",
            ["HUB_RATE_LIMIT_PER_SECOND"] = "1000000",
            ["HUB_RATE_LIMIT_BURST"] = "1000000",
            ["HUB_WEBHOOK_POLL_MS"] = "50",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["DOTNET_ENVIRONMENT"] = "Production",
        };
        foreach (var (k, v) in extra) settings[k] = v;

        // Started from its own folder, as the Dockerfile does (WORKDIR /app), so its appsettings.json (log levels) applies.
        var process = ChildProcess.Start(DotnetHost(), [dll], settings, Path.GetDirectoryName(dll)!, Path.Combine(workDir, logName));
        var hub = new HubProcess(process, url, settings);
        try
        {
            await hub.WaitReadyAsync(TimeSpan.FromSeconds(90));
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            // Not left running until the bench exits (a Hub that never got ready may still be trying).
            await hub.DisposeAsync();
            throw;
        }
        return hub;
    }

    private async Task WaitReadyAsync(TimeSpan timeout)
    {
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < timeout)
        {
            if (Process.HasExited)
                throw new InvalidOperationException($"Hub exited at start-up; see {Process.LogPath}:\n{Tail(Process.LogPath)}");
            try
            {
                using var response = await client.GetAsync($"{Url}/readyz");
                if (response.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            await Task.Delay(100);
        }
        throw new TimeoutException($"Hub was not ready within {timeout.TotalSeconds:0} s; see {Process.LogPath}:\n{Tail(Process.LogPath)}");
    }

    private static string Tail(string path) =>
        File.Exists(path) ? string.Join('\n', File.ReadLines(path).TakeLast(30)) : "";

    public Task StopAsync() => Process.StopAsync(TimeSpan.FromSeconds(15));

    public ValueTask DisposeAsync() => Process.DisposeAsync();
}

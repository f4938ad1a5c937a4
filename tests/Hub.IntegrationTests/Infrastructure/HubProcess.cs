using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;

namespace Hub.IntegrationTests.Infrastructure;

/// <summary>
/// One real Hub process: <c>dotnet services/Hub.Api/bin/&lt;Configuration&gt;/net10.0/Hub.Api.dll</c> with its own
/// environment (roles, port), its output kept in a log file. <see cref="Kill"/> is a kill -9 (SIGKILL of the
/// whole process tree); <see cref="StartAgainAsync"/> starts the same process again on the same port.
/// </summary>
public sealed class HubProcess : IAsyncDisposable
{
    private static readonly HttpClient Probe = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly IReadOnlyDictionary<string, string> _environment;
    private readonly string _workingDirectory;
    private readonly Lock _logGate = new();
    private Process? _process;
    private StreamWriter? _log;
    private int _starts;

    private HubProcess(string name, int port, IReadOnlyDictionary<string, string> environment, string workingDirectory)
    {
        Name = name;
        Port = port;
        _environment = environment;
        _workingDirectory = workingDirectory;
        LogPath = Path.Combine(workingDirectory, $"{name}.log");
    }

    public string Name { get; }
    public int Port { get; }
    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");
    public string LogPath { get; }

    /// <summary>True from ready until killed.</summary>
    public bool IsUp { get; private set; }

    public int? ProcessId => _process?.Id;

    public static string HubApiDll { get; } = typeof(HubProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "HubApiDll").Value!;

    /// <summary>Starts the process and waits until its <c>/readyz</c> answers 200 (store, broker and Redis reachable).</summary>
    public static async Task<HubProcess> StartAsync(string name, IReadOnlyDictionary<string, string> environment, string workingDirectory)
    {
        var process = new HubProcess(name, FreePort(), environment, workingDirectory);
        await process.StartAgainAsync();
        return process;
    }

    public async Task StartAgainAsync()
    {
        if (!File.Exists(HubApiDll))
            throw new InvalidOperationException($"{HubApiDll} is missing: build Hub.Api in the tests' configuration first.");
        if (_process is { HasExited: false }) throw new InvalidOperationException($"{Name} is already running.");

        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = _workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(HubApiDll);
        // Nothing of the runner's own Hub settings leaks in; every process gets exactly its cluster's.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("HUB_", StringComparison.Ordinal)
                     || k is "ASPNETCORE_URLS" or "DOTNET_URLS" or "ASPNETCORE_HTTP_PORTS").ToList())
            start.Environment.Remove(key);
        foreach (var (key, value) in _environment) start.Environment[key] = value;
        start.Environment["HUB_URLS"] = $"http://127.0.0.1:{Port}";

        lock (_logGate)
        {
            _log?.Dispose();
            _log = new StreamWriter(LogPath, append: true) { AutoFlush = true };
            _log.WriteLine($"==== start #{++_starts} of {Name} on port {Port} at {DateTimeOffset.UtcNow:O}");
        }
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Log(e.Data);
        process.ErrorDataReceived += (_, e) => Log(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process?.Dispose();
        _process = process;
        await WaitReadyAsync(TimeSpan.FromSeconds(90));
        IsUp = true;
    }

    private void Log(string? line)
    {
        if (line is null) return;
        lock (_logGate) _log?.WriteLine(line);
    }

    private async Task WaitReadyAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        string last = "no answer yet";
        while (DateTime.UtcNow < deadline)
        {
            if (_process!.HasExited)
                throw new InvalidOperationException($"{Name} exited ({_process.ExitCode}) before it was ready. Its log:\n{LogTail()}");
            try
            {
                using var response = await Probe.GetAsync(new Uri(BaseAddress, "readyz"));
                if (response.StatusCode == HttpStatusCode.OK) return;
                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                last = e.Message;
            }
            await Task.Delay(200);
        }
        throw new TimeoutException($"{Name} was not ready within {timeout.TotalSeconds:0} s (last /readyz: {last}). Its log:\n{LogTail()}");
    }

    /// <summary>kill -9: SIGKILL of the process and its children, no shutdown of any kind.</summary>
    public void Kill()
    {
        IsUp = false;
        if (_process is null || _process.HasExited) return;
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
        Log($"==== killed (SIGKILL) at {DateTimeOffset.UtcNow:O}");
    }

    public string LogTail(int lines = 60)
    {
        lock (_logGate)
        {
            _log?.Flush();
            try
            {
                using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                var all = new StreamReader(stream).ReadToEnd().Split('\n');
                return string.Join('\n', all.TakeLast(lines));
            }
            catch (IOException e)
            {
                return $"(log unreadable: {e.Message})";
            }
        }
    }

    public override string ToString() => $"{Name} (:{Port})";

    /// <summary>A port the OS says is free right now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        _process?.Dispose();
        lock (_logGate)
        {
            _log?.Dispose();
            _log = null;
        }
        return ValueTask.CompletedTask;
    }
}

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;

namespace Hub.IntegrationTests.Infrastructure;

/// <summary>
/// One real Hub process: <c>dotnet services/Hub.Api/bin/&lt;Configuration&gt;/net10.0/Hub.Api.dll</c> with its own
/// environment (roles, port), its output kept in a log file. <see cref="Kill"/> is a kill -9 (SIGKILL of the
/// whole process tree); <see cref="StartAgainAsync"/> starts the same process again on the same port.
/// <para>
/// Every process started here ends: a start that fails (not ready in time, exited, cancelled) kills what it
/// started before it throws, <see cref="DisposeAsync"/> kills, and should the test runner exit with processes
/// still up (a fixture that never got disposed), its exit handler kills them.
/// </para>
/// </summary>
public sealed class HubProcess : IAsyncDisposable
{
    private static readonly HttpClient Probe = new() { Timeout = TimeSpan.FromSeconds(5) };

    /// <summary>How long a start may take by default (generous: several processes share two cores).</summary>
    public static readonly TimeSpan DefaultReadyTimeout = TimeSpan.FromSeconds(90);

    /// <summary>The processes started and not yet ended, for the runner's exit handler.</summary>
    private static readonly HashSet<HubProcess> Running = [];

    static HubProcess() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        HubProcess[] left;
        lock (Running) left = [.. Running];
        foreach (var process in left) process.Kill();
    };

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
        var process = Create(name, environment, workingDirectory);
        await process.StartAgainAsync();
        return process;
    }

    /// <summary>A process on a port of its own, not started yet (so its owner can track it before the start can fail).</summary>
    public static HubProcess Create(string name, IReadOnlyDictionary<string, string> environment, string workingDirectory) =>
        new(name, FreePort(), environment, workingDirectory);

    /// <summary>Starts the process and waits until it is ready; a start that fails ends the process before it throws.</summary>
    public async Task StartAgainAsync(TimeSpan? readyTimeout = null)
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
        _process?.Dispose();
        _process = process;
        lock (Running) Running.Add(this);
        try
        {
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            await WaitReadyAsync(readyTimeout ?? DefaultReadyTimeout);
        }
        catch
        {
            // Not ready, exited or cancelled: whatever is left of it must not outlive the test (nor its folder).
            Kill();
            throw;
        }
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

    /// <summary>
    /// kill -9: SIGKILL of the process and its children, no shutdown of any kind; returns once it has exited and
    /// been reaped (so no zombie and no port held).
    /// </summary>
    public void Kill()
    {
        IsUp = false;
        lock (Running) Running.Remove(this);
        var process = _process;
        if (process is null) return;
        // On Unix, .NET reports HasExited only once it has reaped the child (waitpid).
        if (process.HasExited) return;
        process.Kill(entireProcessTree: true);
        if (!process.WaitForExit(TimeSpan.FromSeconds(10)))
            throw new InvalidOperationException($"{Name} (pid {process.Id}) did not exit within 10 s of SIGKILL");
        Log($"==== killed (SIGKILL) at {DateTimeOffset.UtcNow:O}");
    }

    /// <summary>True while the operating system still has a process with this one's id (a zombie counts).</summary>
    public static bool Exists(int pid) => Directory.Exists($"/proc/{pid}");

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

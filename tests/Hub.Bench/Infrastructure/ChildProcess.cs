using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Hub.Bench.Infrastructure;

/// <summary>
/// A process the bench started (the fakes, Hub). Its output goes to a log file; it is stopped by its own
/// ID (SIGTERM, then SIGKILL), and on the bench's exit whatever is still running is killed.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private static readonly List<ChildProcess> Running = [];
    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly Lock _logGate = new();

    // Kept alive: a registration that is collected stops handling its signal.
    private static readonly PosixSignalRegistration[] Signals;

    static ChildProcess()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
        Console.CancelKeyPress += (_, _) => KillAll();
        // A SIGTERM (kill <pid>) ends the bench without ProcessExit: the Hubs would be left running.
        Signals = [PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => KillAll())];
    }

    private ChildProcess(Process process, string logPath, Action<string>? onLine)
    {
        _process = process;
        LogPath = logPath;
        _log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => Line(e.Data, onLine);
        process.ErrorDataReceived += (_, e) => Line(e.Data, onLine);
    }

    public int Pid => _process.Id;
    public string LogPath { get; }
    public bool HasExited => _process.HasExited;

    public static ChildProcess Start(string file, IEnumerable<string> args, IDictionary<string, string?> environment,
        string workingDirectory, string logPath, Action<string>? onLine = null)
    {
        var info = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        // Everything here is loopback: no proxy may sit in between.
        foreach (var name in new[] { "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" })
            info.Environment.Remove(name);
        foreach (var (k, v) in environment)
        {
            if (v is null) info.Environment.Remove(k);
            else info.Environment[k] = v;
        }
        var process = new Process { StartInfo = info };
        var child = new ChildProcess(process, logPath, onLine);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        lock (Running) Running.Add(child);
        return child;
    }

    private bool _closed;

    private void Line(string? line, Action<string>? onLine)
    {
        if (line is null) return;
        lock (_logGate)
        {
            if (_closed) return;
            _log.WriteLine(line);
        }
        onLine?.Invoke(line);
    }

    /// <summary>Resident memory (VmRSS) in MiB, from /proc; null once the process is gone.</summary>
    public double? RssMb() => ProcStatusKb("VmRSS:") is { } kb ? kb / 1024.0 : null;

    /// <summary>Peak resident memory (VmHWM) in MiB.</summary>
    public double? PeakRssMb() => ProcStatusKb("VmHWM:") is { } kb ? kb / 1024.0 : null;

    public int? Threads() => (int?)ProcStatusKb("Threads:");

    /// <summary>User + system CPU seconds the process has used so far (/proc/&lt;pid&gt;/stat).</summary>
    public double? CpuSeconds()
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{Pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // Fields 14 and 15 of stat (utime, stime), counted from after the command name (field 3 is index 0).
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return ticks / 100.0;
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException) { return null; }
    }

    private long? ProcStatusKb(string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{Pid}/status"))
                if (line.StartsWith(field, StringComparison.Ordinal))
                    return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (IOException) { }
        return null;
    }

    /// <summary>SIGTERM (a graceful stop: the host drains), then SIGKILL after <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_process.HasExited) return;
        try { _process.StandardInput.Close(); } catch (IOException) { }
        _ = Kill(Pid, 15);
        using var cts = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(10));
        lock (Running) Running.Remove(this);
        lock (_logGate)
        {
            _closed = true;
            _log.Dispose();
        }
        _process.Dispose();
    }

    private static void KillAll()
    {
        lock (Running)
            foreach (var child in Running)
                try { if (!child._process.HasExited) child._process.Kill(entireProcessTree: true); } catch (Exception) { }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}

/// <summary>The soft limit on open files is per process and inherited: raise it to the hard limit before starting children.</summary>
public static class FileLimit
{
    private const int RlimitNofile = 7;

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Max;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int getrlimit(int resource, out RLimit limit);

    [DllImport("libc", SetLastError = true)]
    private static extern int setrlimit(int resource, ref RLimit limit);

    /// <summary>Returns the soft limit in force after trying to raise it.</summary>
    public static ulong Raise()
    {
        if (!OperatingSystem.IsLinux()) return 0;
        if (getrlimit(RlimitNofile, out var limit) != 0) return 0;
        if (limit.Current < limit.Max)
        {
            var raised = limit with { Current = limit.Max };
            if (setrlimit(RlimitNofile, ref raised) == 0) return raised.Current;
        }
        return limit.Current;
    }
}

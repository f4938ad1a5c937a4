using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Hub.TestSupport;

namespace Hub.Bench.Infrastructure;

/// <summary>
/// A RabbitMQ virtual host of the bench's own, created with <c>rabbitmqctl</c> for one run and deleted after it,
/// so that Hub's queues and exchanges never meet another run's (the approach of
/// tests/Hub.IntegrationTests/Infrastructure/TestServices.cs). <c>rabbitmqctl</c> talks to the local node, so
/// <c>--rabbitmq</c> must name the broker on this machine; its path (a vhost) is replaced by the fresh one.
/// </summary>
public sealed class RabbitMqVhost : IAsyncDisposable
{
    /// <summary>Every bench vhost is named <c>hub-bench-&lt;pid&gt;-&lt;random&gt;</c>, so a later run can tell a leftover from a live one.</summary>
    private const string Prefix = "hub-bench-";
    private int _deleted;
    private readonly PosixSignalRegistration[] _signals;

    private RabbitMqVhost(string name, string amqpUri)
    {
        Name = name;
        AmqpUri = amqpUri;
        // Should the bench be stopped (Ctrl+C, kill) before DisposeAsync, the vhost goes with it. SIGTERM ends the
        // bench without ProcessExit, so it is handled on its own.
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
        _signals = [PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => OnProcessExit(null, EventArgs.Empty))];
    }

    public string Name { get; }

    /// <summary>What Hub gets as <c>HUB_RABBITMQ</c>: the user, password, host and port of <c>--rabbitmq</c>, on this vhost.</summary>
    public string AmqpUri { get; }

    /// <summary>host:port of a <c>--rabbitmq</c> URI, for messages (the password stays out of them).</summary>
    public static string Endpoint(Uri uri) => $"{uri.Host}:{Port(uri)}";

    private static int Port(Uri uri) => uri.Port > 0 ? uri.Port : 5672;

    /// <summary>
    /// Null when RabbitMQ can be used: it answers the AMQP protocol header on <paramref name="uri"/>'s port and
    /// rabbitmqctl is installed. Otherwise why not.
    /// </summary>
    public static async Task<string?> UnavailableAsync(Uri uri)
    {
        if (!await AmqpAnswersAsync(uri.Host, Port(uri))) return $"RabbitMQ not reachable at {Endpoint(uri)}";
        if (RabbitMqCtl.Path is null) return "rabbitmqctl not found (looked on PATH, /usr/sbin and /usr/lib/rabbitmq/bin); it creates the bench's vhost";
        return null;
    }

    /// <summary>Deletes vhosts left by bench runs that are gone (killed before they could), then creates a fresh one.</summary>
    public static async Task<RabbitMqVhost> CreateAsync(Uri uri)
    {
                var name = $"{Prefix}{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..12]}";
        var user = Uri.UnescapeDataString(uri.UserInfo.Split(':', 2)[0] is { Length: > 0 } u ? u : "guest");
        // rabbitmqctl takes a second or more per call: the sweep (which never touches a live run's vhost) runs alongside.
        var sweep = SweepLeftoversAsync();
        try
        {
            await CtlAsync("add_vhost", name);
        }
        catch (InvalidOperationException)
        {
            await sweep;
            throw;
        }
        var vhost = new RabbitMqVhost(name, $"amqp://{(uri.UserInfo.Length > 0 ? uri.UserInfo : "guest:guest")}@{Endpoint(uri)}/{name}");
        try
        {
            await sweep;
            await CtlAsync("set_permissions", "-p", name, user, ".*", ".*", ".*");
        }
        catch (InvalidOperationException)
        {
            await vhost.DisposeAsync();
            throw;
        }
        return vhost;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _deleted, 1) == 1) return;
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        foreach (var signal in _signals) signal.Dispose();
        await CtlAsync("delete_vhost", Name);
    }

    private void OnProcessExit(object? sender, EventArgs e)
    {
        if (Interlocked.Exchange(ref _deleted, 1) == 1) return;
        try { CtlAsync("delete_vhost", Name).Wait(TimeSpan.FromSeconds(10)); }
        catch (AggregateException) { /* exiting anyway; the next run sweeps it */ }
    }

    /// <summary>Deletes the vhosts of bench runs that are no longer running. Best effort: a leftover vhost is empty and harmless.</summary>
    private static async Task SweepLeftoversAsync()
    {
        string[] vhosts;
        try { vhosts = (await CtlAsync("list_vhosts", "--no-table-headers", "name")).Split('\n', StringSplitOptions.TrimEntries); }
        catch (InvalidOperationException e)
        {
            Console.Error.WriteLine($"  warning: leftover bench vhosts not looked for: {e.Message}");
            return;
        }
        foreach (var vhost in vhosts.Where(v => v.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            var pid = vhost[Prefix.Length..].Split('-')[0];
            if (int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && IsBenchAlive(id)) continue;
            try { await CtlAsync("delete_vhost", vhost); }
            catch (InvalidOperationException) { /* another run swept it first */ }
        }
    }

    /// <summary>A bench process (this program, running) with that ID: its vhost is in use.</summary>
    private static bool IsBenchAlive(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").Contains("Hub.Bench", StringComparison.Ordinal); }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return true; }
    }

    private static async Task<bool> AmqpAnswersAsync(string host, int port)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            using var client = new TcpClient();
            await client.ConnectAsync(host, port, timeout.Token);
            var stream = client.GetStream();
            // The AMQP 0-9-1 protocol header; a broker answers with Connection.Start.
            await stream.WriteAsync("AMQP\0\0\x09\x01"u8.ToArray(), timeout.Token);
            var buffer = new byte[64];
            return await stream.ReadAsync(buffer, timeout.Token) > 0;
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    private static Task<string> CtlAsync(params string[] arguments) =>
        RabbitMqCtl.RunAsync(TimeSpan.FromSeconds(60), "The bench's RabbitMQ variant needs this machine's broker (bash scripts/services.sh).", arguments);
}

using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Hub.IntegrationTests.Infrastructure;

/// <summary>
/// The real servers this suite needs: RabbitMQ (guest/guest on 127.0.0.1:5672, managed with <c>rabbitmqctl</c>)
/// and Redis (127.0.0.1:6379). scripts/services.sh installs and starts both; when either is missing the suite
/// fails with a message that says so, rather than skipping.
/// </summary>
public static class TestServices
{
    public const string Host = "127.0.0.1";
    public const int RabbitMqPort = 5672;
    public const int RedisPort = 6379;
    private const string Hint = "Start the test services with `bash scripts/services.sh` (scripts/test.sh does it first).";

    /// <summary>Fails with a clear message unless RabbitMQ and Redis both answer.</summary>
    public static async Task RequireAsync()
    {
        var problems = new List<string>();
        if (!await AmqpAnswersAsync() && !await RestartStoppedAppAsync())
            problems.Add($"RabbitMQ does not answer on {Host}:{RabbitMqPort}");
        if (!await AnswersAsync(RedisPort, "PING\r\n"u8.ToArray(), reply => Encoding.ASCII.GetString(reply).StartsWith("+PONG")))
            problems.Add($"Redis does not answer PING on {Host}:{RedisPort}");
        if (RabbitMqCtl is null)
            problems.Add("rabbitmqctl is not installed (looked on PATH, /usr/sbin and /usr/lib/rabbitmq/bin)");
        if (problems.Count > 0)
            throw new InvalidOperationException($"The multi-process suite needs real RabbitMQ and Redis: {string.Join("; ", problems)}. {Hint}");
    }

    private static Task<bool> AmqpAnswersAsync() =>
        AnswersAsync(RabbitMqPort, "AMQP\0\0\x09\x01"u8.ToArray(), reply => reply.Length > 0);

    /// <summary>
    /// The fault run stops the broker's application and starts it again (in a finally block). Should the test run
    /// itself have been killed in between, the node is still up with its application stopped: start it again then.
    /// A node that is not running at all is left to scripts/services.sh.
    /// </summary>
    private static async Task<bool> RestartStoppedAppAsync()
    {
        if (RabbitMqCtl is null) return false;
        try
        {
            await RabbitMqCtlAsync("status");
            await StartRabbitMqAsync();
            return await AmqpAnswersAsync();
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static async Task<bool> AnswersAsync(int port, byte[] hello, Func<byte[], bool> ok)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            using var client = new TcpClient();
            await client.ConnectAsync(Host, port, timeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync(hello, timeout.Token);
            var buffer = new byte[64];
            var read = await stream.ReadAsync(buffer, timeout.Token);
            return ok(buffer[..read]);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>A Redis connection string (StackExchange.Redis syntax) on a database of its own, so that this run's
    /// keys (rate-limit buckets) never meet another run's; nothing is flushed. Pub/sub channels are server-wide, but
    /// Hub's are named per process (and the shared one carries only message IDs nobody else waits for).</summary>
    public static string RedisConnection(int database) => $"{Host}:{RedisPort},defaultDatabase={database}";

    /// <summary>A database number other than 0 (the one everything else on the machine uses by default).</summary>
    public static int PickRedisDatabase() => Random.Shared.Next(1, 16);

    public static string? RabbitMqCtl => Hub.TestSupport.RabbitMqCtl.Path;

    /// <summary>A fresh virtual host that guest may use fully, so that this class's queues and exchanges are its own.</summary>
    public static async Task<string> CreateVhostAsync()
    {
        var vhost = $"hub-test-{Guid.NewGuid():N}";
        await RabbitMqCtlAsync("add_vhost", vhost);
        await RabbitMqCtlAsync("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*");
        return vhost;
    }

    public static async Task DeleteVhostAsync(string vhost)
    {
        try { await RabbitMqCtlAsync("delete_vhost", vhost); }
        catch (InvalidOperationException) { /* best effort: a leftover vhost is empty and harmless */ }
    }

    public static string AmqpUri(string vhost) => $"amqp://guest:guest@{Host}:{RabbitMqPort}/{vhost}";

    /// <summary>Stops the broker's application (connections drop, the node stays up).</summary>
    public static Task StopRabbitMqAsync() => RabbitMqCtlAsync("stop_app");

    /// <summary>Starts the broker's application again and waits until it accepts connections.</summary>
    public static async Task StartRabbitMqAsync()
    {
        await RabbitMqCtlAsync("start_app");
        await RabbitMqCtlAsync("await_startup", "--timeout", "60");
    }

    /// <summary>Whatever happened before, leaves RabbitMQ running (used in finally blocks).</summary>
    public static async Task EnsureRabbitMqRunningAsync()
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            try
            {
                await StartRabbitMqAsync();
                return;
            }
            catch (InvalidOperationException) when (attempt < 2)
            {
                await Task.Delay(2000);
            }
        }
    }

    public static Task<string> RabbitMqCtlAsync(params string[] arguments) =>
        Hub.TestSupport.RabbitMqCtl.RunAsync(TimeSpan.FromSeconds(90), Hint, arguments);
}

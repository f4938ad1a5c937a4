using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Hub.Bench.Infrastructure;

/// <summary>
/// A Redis database of the bench's own for one run. Like the integration suite it takes a database other than 0,
/// but one that is empty when the run starts (15 first, then downwards), and it does not FLUSHDB: the suite picks
/// its databases at random, and a flush could empty one of its runs. Hub's only keys are its rate-limit buckets
/// (<c>hub:ratelimit:*</c>, expiring a few seconds after their last use); after the run the bench deletes the
/// <c>hub:*</c> keys of that database. Pub/sub channels hold nothing. A few RESP commands over a socket are all
/// the bench needs, so it does not take a Redis client library.
/// </summary>
public sealed class RedisDatabase : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly BufferedStream _stream;

    private RedisDatabase(TcpClient client, string host, int port)
    {
        _client = client;
        _stream = new BufferedStream(client.GetStream());
        Host = host;
        Port = port;
    }

    public string Host { get; }
    public int Port { get; }
    public int Database { get; private set; }

    /// <summary>What Hub gets as <c>HUB_REDIS</c> (StackExchange.Redis syntax).</summary>
    public string Connection => $"{Host}:{Port},defaultDatabase={Database}";

    public static (string Host, int Port) Parse(string hostPort)
    {
        var colon = hostPort.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(hostPort[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port))
            throw new ArgumentException($"--redis takes HOST:PORT, not '{hostPort}'.");
        return (hostPort[..colon], port);
    }

    /// <summary>Null when Redis answers PING at <paramref name="hostPort"/>; otherwise why not.</summary>
    public static async Task<string?> UnavailableAsync(string hostPort)
    {
        try
        {
            await using var redis = await ConnectAsync(hostPort);
            return await redis.CommandAsync("PING") is "PONG" ? null : $"Redis at {hostPort} does not answer PING";
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or InvalidOperationException)
        {
            return $"Redis not reachable at {hostPort} ({e.Message})";
        }
    }

    /// <summary>Connects and selects the highest-numbered empty database other than 0.</summary>
    public static async Task<RedisDatabase> OpenEmptyAsync(string hostPort)
    {
        var redis = await ConnectAsync(hostPort);
        try
        {
            for (var db = 15; db >= 1; db--)
            {
                await redis.CommandAsync("SELECT", db.ToString(CultureInfo.InvariantCulture));
                if (await redis.CommandAsync("DBSIZE") is 0L)
                {
                    redis.Database = db;
                    return redis;
                }
            }
            throw new InvalidOperationException($"Redis at {hostPort} has no empty database among 1-15 for the bench.");
        }
        catch
        {
            await redis.DisposeAsync();
            throw;
        }
    }

    /// <summary>Deletes Hub's keys (<c>hub:*</c>) in this database; returns how many keys are left in it.</summary>
    public async Task<long> DeleteHubKeysAsync()
    {
        var cursor = "0";
        do
        {
            var reply = (object?[])(await CommandAsync("SCAN", cursor, "MATCH", "hub:*", "COUNT", "1000"))!;
            cursor = (string)reply[0]!;
            var keys = ((object?[])reply[1]!).Cast<string>().ToArray();
            if (keys.Length > 0) await CommandAsync(["DEL", .. keys]);
        }
        while (cursor != "0");
        return (long)(await CommandAsync("DBSIZE"))!;
    }

    private static async Task<RedisDatabase> ConnectAsync(string hostPort)
    {
        var (host, port) = Parse(hostPort);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var client = new TcpClient();
        try
        {
            await client.ConnectAsync(host, port, timeout.Token);
        }
        catch
        {
            client.Dispose();
            throw;
        }
        client.ReceiveTimeout = client.SendTimeout = 10_000;
        return new RedisDatabase(client, host, port);
    }

    /// <summary>One command; the reply as a string, a long, null, or an array of those. An error reply throws.</summary>
    public async Task<object?> CommandAsync(params string[] args)
    {
        var request = new StringBuilder($"*{args.Length}\r\n");
        foreach (var arg in args) request.Append($"${Encoding.UTF8.GetByteCount(arg)}\r\n{arg}\r\n");
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToString()));
        await _stream.FlushAsync();
        return await ReadReplyAsync();
    }

    private async Task<object?> ReadReplyAsync()
    {
        var line = await ReadLineAsync();
        var rest = line[1..];
        switch (line[0])
        {
            case '+': return rest;
            case '-': throw new InvalidOperationException($"Redis: {rest}");
            case ':': return long.Parse(rest, CultureInfo.InvariantCulture);
            case '$':
                var length = int.Parse(rest, CultureInfo.InvariantCulture);
                if (length < 0) return null;
                var bytes = new byte[length + 2];
                await _stream.ReadExactlyAsync(bytes);
                return Encoding.UTF8.GetString(bytes, 0, length);
            case '*':
                var count = int.Parse(rest, CultureInfo.InvariantCulture);
                if (count < 0) return null;
                var items = new object?[count];
                for (var i = 0; i < count; i++) items[i] = await ReadReplyAsync();
                return items;
            default: throw new InvalidOperationException($"Redis sent an unexpected reply: {line}");
        }
    }

    private async Task<string> ReadLineAsync()
    {
        var line = new StringBuilder();
        var one = new byte[1];
        while (true)
        {
            if (await _stream.ReadAsync(one) == 0) throw new IOException("Redis closed the connection.");
            if (one[0] == '\n' && line.Length > 0 && line[^1] == '\r') return line.ToString(0, line.Length - 1);
            line.Append((char)one[0]);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _client.Dispose();
    }
}

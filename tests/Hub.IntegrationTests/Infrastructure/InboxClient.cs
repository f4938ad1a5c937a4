using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Hub.IntegrationTests.Infrastructure;

/// <summary>One server → client invocation (<c>type 1</c>): its target and first argument.</summary>
public sealed record InboxEvent(string Target, JsonObject Arg);

/// <summary>
/// An agent's connection to one Hub process's inbox hub, speaking SignalR's JSON protocol over a raw
/// <see cref="ClientWebSocket"/> (the .NET SignalR client is not served here): straight to
/// <c>ws://…/hubs/inbox?access_token=…</c> (no negotiate), handshake <c>{"protocol":"json","version":1}</c> + 0x1E,
/// then invocations (<c>type 1</c>), completions (<c>type 3</c>), pings (<c>type 6</c>, ignored) and close (<c>type 7</c>).
/// Every server invocation is kept so tests can wait for one that matches.
/// </summary>
public sealed class InboxClient : IAsyncDisposable
{
    private const char RecordSeparator = '\u001e';
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(20);

    private readonly ClientWebSocket _socket = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly List<InboxEvent> _events = [];
    private readonly Dictionary<string, TaskCompletionSource<JsonObject>> _pending = [];
    private readonly TaskCompletionSource<JsonObject> _handshake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _sending = new(1, 1);
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _reader = Task.CompletedTask;
    private int _nextId;
    private string? _closed;

    private InboxClient(string name) => Name = name;

    public string Name { get; }

    public static async Task<InboxClient> ConnectAsync(HubProcess process, string accessToken, string name)
    {
        var client = new InboxClient(name);
        var uri = new Uri($"ws://127.0.0.1:{process.Port}/hubs/inbox?access_token={Uri.EscapeDataString(accessToken)}");
        using (var timeout = new CancellationTokenSource(DefaultWait))
            await client._socket.ConnectAsync(uri, timeout.Token);
        client._reader = Task.Run(client.ReadLoopAsync);
        await client.SendAsync(new JsonObject { ["protocol"] = "json", ["version"] = 1 });
        var handshake = await client._handshake.Task.WaitAsync(DefaultWait);
        if (handshake["error"] is { } error) throw new InvalidOperationException($"{name}: handshake refused: {error}");
        return client;
    }

    public IReadOnlyList<InboxEvent> Events
    {
        get { lock (_gate) return [.. _events]; }
    }

    /// <summary>Invokes a hub method; returns its completion (<c>result</c>, or <c>error</c> when refused).</summary>
    public async Task<JsonObject> InvokeAsync(string target, params object?[] arguments)
    {
        var id = Interlocked.Increment(ref _nextId).ToString();
        var completion = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate) _pending[id] = completion;
        await SendAsync(new JsonObject
        {
            ["type"] = 1, ["invocationId"] = id, ["target"] = target, ["arguments"] = JsonSerializer.SerializeToNode(arguments),
        });
        return await completion.Task.WaitAsync(DefaultWait);
    }

    /// <summary>Waits for a server invocation of <paramref name="target"/> whose argument matches (ones already received count).</summary>
    public async Task<InboxEvent> WaitForAsync(string target, Func<JsonObject, bool> match, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultWait);
        while (true)
        {
            Task changed;
            lock (_gate) changed = _changed.Task;
            var found = Events.FirstOrDefault(e => e.Target == target && match(e.Arg));
            if (found is not null) return found;
            if (_closed is not null) throw new InvalidOperationException($"{Name}: the connection closed ({_closed}) while waiting for {target}.");
            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{Name}: no matching {target} within {(timeout ?? DefaultWait).TotalSeconds:0} s; received: "
                                           + string.Join("; ", Events.Select(e => $"{e.Target} {e.Arg.ToJsonString()}")));
            }
        }
    }

    private async Task SendAsync(JsonObject message)
    {
        var bytes = Encoding.UTF8.GetBytes(message.ToJsonString() + RecordSeparator);
        await _sending.WaitAsync();
        try { await _socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, _stop.Token); }
        finally { _sending.Release(); }
    }

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[16 * 1024];
        var bytes = new List<byte>();
        try
        {
            while (_socket.State == WebSocketState.Open)
            {
                var received = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (received.MessageType == WebSocketMessageType.Close) break;
                bytes.AddRange(buffer.AsSpan(0, received.Count));
                var end = bytes.LastIndexOf((byte)RecordSeparator);
                if (end < 0) continue;
                var text = Encoding.UTF8.GetString(bytes.GetRange(0, end).ToArray());
                bytes.RemoveRange(0, end + 1);
                foreach (var record in text.Split(RecordSeparator)) Handle(JsonNode.Parse(record)!.AsObject());
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            // Closing.
        }
        finally
        {
            _closed ??= "socket closed";
            _handshake.TrySetResult(new JsonObject { ["error"] = "connection closed" });
            lock (_gate)
                foreach (var pending in _pending.Values) pending.TrySetException(new InvalidOperationException($"{Name}: the connection closed."));
            Changed();
        }
    }

    private void Handle(JsonObject message)
    {
        if (!_handshake.Task.IsCompleted && message["type"] is null)
        {
            _handshake.TrySetResult(message);
            return;
        }
        switch (message["type"]?.GetValue<int>())
        {
            case 1:
                var arguments = message["arguments"]?.AsArray();
                lock (_gate) _events.Add(new InboxEvent(message["target"]!.GetValue<string>(), arguments?.FirstOrDefault()?.AsObject() ?? []));
                Changed();
                break;
            case 3:
                TaskCompletionSource<JsonObject>? completion;
                lock (_gate) _pending.Remove(message["invocationId"]!.GetValue<string>(), out completion);
                completion?.TrySetResult(message);
                break;
            case 7:
                _closed = message.ToJsonString();
                Changed();
                break;
        }
    }

    private void Changed()
    {
        lock (_gate)
        {
            _changed.TrySetResult();
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_socket.State == WebSocketState.Open)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
        }
        _stop.Cancel();
        await _reader;
        _socket.Dispose();
        _stop.Dispose();
    }
}

using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.TestHost;

namespace Hub.FunctionalTests.Inbox;

/// <summary>One message the server invoked on the client (<c>type: 1</c>): its target and arguments.</summary>
public sealed record HubEvent(string Target, JsonArray Arguments)
{
    public JsonObject Arg => Arguments[0]!.AsObject();
}

/// <summary>
/// A SignalR client speaking the JSON hub protocol over a raw WebSocket (the .NET SignalR client is not
/// served here): handshake <c>{"protocol":"json","version":1}</c> + 0x1E, invocations
/// <c>{"type":1,"invocationId","target","arguments"}</c>, completions <c>type 3</c> (<c>result</c> or
/// <c>error</c>), server invocations <c>type 1</c>, pings <c>type 6</c> (ignored), close <c>type 7</c>.
/// Every server invocation is kept, so tests can wait for one that matches.
/// </summary>
public sealed class SignalRTestClient : IAsyncDisposable
{
    private const char RecordSeparator = '\u001e';
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(15);

    private readonly WebSocket _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<string, TaskCompletionSource<JsonObject>> _pending = new();
    private readonly List<HubEvent> _events = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _sending = new(1, 1);
    private readonly TaskCompletionSource<JsonObject> _handshake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _reader = Task.CompletedTask;
    private int _nextId;

    private SignalRTestClient(WebSocket socket) => _socket = socket;

    /// <summary>Connects straight over WebSockets (no negotiate, as <c>skipNegotiation</c> does) and completes the handshake.</summary>
    public static async Task<SignalRTestClient> ConnectAsync(TestServer server, string accessToken, string path = "/hubs/inbox")
    {
        var socket = await server.CreateWebSocketClient()
            .ConnectAsync(new Uri($"ws://localhost{path}?access_token={Uri.EscapeDataString(accessToken)}"), CancellationToken.None);
        var client = new SignalRTestClient(socket);
        client._reader = Task.Run(client.ReadLoopAsync);
        await client.SendRawAsync(new JsonObject { ["protocol"] = "json", ["version"] = 1 });
        var handshake = await client._handshake.Task.WaitAsync(DefaultWait);
        if (handshake["error"] is { } error) throw new InvalidOperationException($"Handshake refused: {error}");
        return client;
    }

    /// <summary>Every server invocation so far, in arrival order.</summary>
    public IReadOnlyList<HubEvent> Events
    {
        get { lock (_gate) return [.. _events]; }
    }

    /// <summary>Set when the server sent a close message (<c>type 7</c>) or the socket closed.</summary>
    public JsonObject? Closed { get; private set; }

    /// <summary>Invokes a hub method and returns its completion message (with <c>result</c>, or <c>error</c> when refused).</summary>
    public async Task<JsonObject> InvokeAsync(string target, params object?[] arguments)
    {
        var id = Interlocked.Increment(ref _nextId).ToString();
        var completion = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate) _pending[id] = completion;
        await SendRawAsync(new JsonObject
        {
            ["type"] = 1,
            ["invocationId"] = id,
            ["target"] = target,
            ["arguments"] = JsonSerializer.SerializeToNode(arguments),
        });
        try
        {
            return await completion.Task.WaitAsync(DefaultWait);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"No completion for {target} within {DefaultWait.TotalSeconds} s.");
        }
    }

    /// <summary>Waits for a server invocation of <paramref name="target"/> whose first argument matches (already received ones count).</summary>
    public async Task<HubEvent> WaitForAsync(string target, Func<JsonObject, bool>? match = null, TimeSpan? timeout = null, int skip = 0)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultWait);
        while (true)
        {
            Task changed;
            lock (_gate) changed = _changed.Task;
            var found = Events.Where(e => e.Target == target && (match?.Invoke(e.Arg) ?? true)).Skip(skip).FirstOrDefault();
            if (found is not null) return found;
            if (Closed is not null) throw new InvalidOperationException($"The connection closed while waiting for {target}: {Closed.ToJsonString()}");
            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException(
                    $"No {target} matching within {(timeout ?? DefaultWait).TotalSeconds} s; received: " +
                    string.Join("; ", Events.Select(e => $"{e.Target} {e.Arguments.ToJsonString()}")));
            }
        }
    }

    private async Task SendRawAsync(JsonObject message)
    {
        var bytes = Encoding.UTF8.GetBytes(message.ToJsonString() + RecordSeparator);
        await _sending.WaitAsync();
        try
        {
            await _socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, _stop.Token);
        }
        finally
        {
            _sending.Release();
        }
    }

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[16 * 1024];
        var chars = new char[Encoding.UTF8.GetMaxCharCount(buffer.Length)];
        var decoder = Encoding.UTF8.GetDecoder();
        var text = new StringBuilder();
        try
        {
            while (_socket.State == WebSocketState.Open)
            {
                var received = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (received.MessageType == WebSocketMessageType.Close) break;
                text.Append(chars, 0, decoder.GetChars(buffer, 0, received.Count, chars, 0, flush: false));
                var all = text.ToString();
                var end = all.LastIndexOf(RecordSeparator);
                if (end < 0) continue;
                text.Clear().Append(all[(end + 1)..]);
                foreach (var record in all[..end].Split(RecordSeparator)) Handle(JsonNode.Parse(record)!.AsObject());
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            // Closing.
        }
        finally
        {
            Closed ??= new JsonObject { ["type"] = 7 };
            _handshake.TrySetResult(new JsonObject { ["error"] = "connection closed" });
            lock (_gate)
                foreach (var pending in _pending.Values) pending.TrySetException(new InvalidOperationException("The connection closed."));
            Changed();
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
                lock (_gate) _events.Add(new HubEvent(message["target"]!.GetValue<string>(), message["arguments"]?.AsArray() ?? []));
                Changed();
                break;
            case 3:
                TaskCompletionSource<JsonObject>? completion;
                lock (_gate) _pending.Remove(message["invocationId"]!.GetValue<string>(), out completion);
                completion?.TrySetResult(message);
                break;
            case 7:
                Closed = message;
                Changed();
                break;
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

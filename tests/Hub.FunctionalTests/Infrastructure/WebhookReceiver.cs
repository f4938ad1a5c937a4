using Hub.TestSupport;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Hub.FunctionalTests.Infrastructure;

/// <summary>One request as the receiver saw it: when it arrived, every header, the raw body bytes, and what it was answered.</summary>
public sealed record ReceivedWebhook(
    int Index, DateTimeOffset ReceivedAt, string Method, string Path, IReadOnlyDictionary<string, string> Headers, byte[] Body, int AnsweredStatus)
{
    public string? Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out var value) ? value : null;

    public string Id => Header("webhook-id") ?? throw new InvalidOperationException("No webhook-id header.");
    public string Timestamp => Header("webhook-timestamp") ?? throw new InvalidOperationException("No webhook-timestamp header.");
    public string Signature => Header("webhook-signature") ?? throw new InvalidOperationException("No webhook-signature header.");

    public string BodyText => Encoding.UTF8.GetString(Body);
    public JsonObject Json => JsonNode.Parse(Body)!.AsObject();
    public string Type => Json["type"]!.GetValue<string>();
    public JsonObject Data => Json["data"]!.AsObject();
}

/// <summary>What the receiver answers to one request.</summary>
public sealed record ScriptedResponse(int Status, string? RetryAfter = null, string? Body = null, TimeSpan Delay = default, string? Location = null);

/// <summary>
/// A real HTTP server on 127.0.0.1 (Kestrel, port chosen by the OS) standing in for a bot's webhook
/// endpoint. Every request is recorded as it arrives. Answers are scripted: a queue of one-off answers
/// (<see cref="FailNext"/>, <see cref="Enqueue"/>), then <see cref="Default"/> (200 unless changed);
/// <see cref="Delay"/> makes every answer slow and <see cref="Hold"/> makes requests hang until
/// <see cref="Release"/>. The waiting helpers only wait (generously); they never time anything.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(30);

    private readonly WebApplication _app;
    private readonly Lock _gate = new();
    private readonly List<ReceivedWebhook> _received = [];
    private readonly Queue<ScriptedResponse> _script = new();
    private readonly CancellationTokenSource _stopping = new();
    private TaskCompletionSource _held = Released();
    private int _inFlight;
    private int _maxInFlight;
    private int _completed;

    private WebhookReceiver(WebApplication app) => _app = app;

    public static async Task<WebhookReceiver> StartAsync()
    {
        var app = LoopbackServer.Create();
        var receiver = new WebhookReceiver(app);
        app.Run(receiver.HandleAsync);
        var address = await LoopbackServer.StartAsync(app);
        receiver.BaseAddress = address;
        return receiver;
    }

    public Uri BaseAddress { get; private set; } = null!;
    public int Port => BaseAddress.Port;

    /// <summary>The webhook URL to register: <c>http://127.0.0.1:{port}/hook</c>.</summary>
    public string Url => new Uri(BaseAddress, "/hook").ToString();

    /// <summary>The URL with another host name (same port and path), e.g. a name that resolves to 127.0.0.1.</summary>
    public string UrlWithHost(string host) => new UriBuilder(Url) { Host = host }.Uri.ToString();

    /// <summary>The answer once the scripted queue is empty.</summary>
    public ScriptedResponse Default { get; set; } = new(200, Body: "ok");

    /// <summary>Added before every answer (a slow receiver).</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>The next <paramref name="times"/> requests get <paramref name="status"/> (with Retry-After and a body when given).</summary>
    public void FailNext(int times, int status = 500, string? retryAfter = null, string? body = null)
    {
        lock (_gate)
            for (var i = 0; i < times; i++) _script.Enqueue(new ScriptedResponse(status, retryAfter, body ?? $"scripted failure {status}"));
    }

    public void Enqueue(ScriptedResponse response)
    {
        lock (_gate) _script.Enqueue(response);
    }

    /// <summary>Every request fails with <paramref name="status"/> until <see cref="Default"/> is changed back.</summary>
    public void FailAlways(int status = 500, string? body = null) => Default = new ScriptedResponse(status, Body: body ?? $"always {status}");

    public void SucceedFromNowOn()
    {
        lock (_gate) _script.Clear();
        Default = new ScriptedResponse(200, Body: "ok");
    }

    /// <summary>From now on requests hang (after being recorded) until <see cref="Release"/>.</summary>
    public void Hold()
    {
        lock (_gate) if (_held.Task.IsCompleted) _held = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public void Release()
    {
        lock (_gate) _held.TrySetResult();
    }

    public IReadOnlyList<ReceivedWebhook> Received
    {
        get { lock (_gate) return [.. _received]; }
    }

    /// <summary>Requests that arrived and have not been answered yet.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>The most requests that were ever in flight at once.</summary>
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    /// <summary>Requests answered (whatever the status).</summary>
    public int Completed => Volatile.Read(ref _completed);

    /// <summary>Waits until at least <paramref name="count"/> matching requests have arrived; returns them in arrival order.</summary>
    public async Task<IReadOnlyList<ReceivedWebhook>> WaitForAsync(int count, Func<ReceivedWebhook, bool>? match = null, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultWait);
        while (true)
        {
            var matching = Received.Where(r => match?.Invoke(r) ?? true).ToList();
            if (matching.Count >= count) return matching;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException(
                    $"The receiver got {matching.Count} of {count} expected webhooks; all requests so far: {Describe()}");
            await Task.Delay(20);
        }
    }

    /// <summary>The first request of the given event type (waiting for it).</summary>
    public async Task<ReceivedWebhook> WaitForEventAsync(string type, Func<ReceivedWebhook, bool>? match = null, TimeSpan? timeout = null) =>
        (await WaitForAsync(1, r => IsJson(r) && r.Type == type && (match?.Invoke(r) ?? true), timeout))[0];

    /// <summary>Waits until <paramref name="condition"/> holds over what was received.</summary>
    public async Task WaitUntilAsync(Func<WebhookReceiver, bool> condition, string waitingFor, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultWait);
        while (!condition(this))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Gave up waiting for {waitingFor}; received: {Describe()}");
            await Task.Delay(20);
        }
    }

    public string Describe() =>
        string.Join("; ", Received.Select(r => $"#{r.Index} {r.Header("webhook-id")} {(IsJson(r) ? r.Type : "?")} → {r.AnsweredStatus}"));

    private static bool IsJson(ReceivedWebhook r)
    {
        try { return JsonNode.Parse(r.Body) is JsonObject o && o["type"] is not null; }
        catch (System.Text.Json.JsonException) { return false; }
    }

    private async Task HandleAsync(HttpContext http)
    {
        using var body = new MemoryStream();
        await http.Request.Body.CopyToAsync(body, http.RequestAborted);
        var headers = http.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString());

        ScriptedResponse answer;
        Task held;
        lock (_gate)
        {
            answer = _script.Count > 0 ? _script.Dequeue() : Default;
            held = _held.Task;
            _received.Add(new ReceivedWebhook(_received.Count, DateTimeOffset.UtcNow, http.Request.Method, http.Request.Path,
                headers, body.ToArray(), answer.Status));
        }

        var inFlight = Interlocked.Increment(ref _inFlight);
        for (var max = MaxInFlight; inFlight > max; max = MaxInFlight)
            if (Interlocked.CompareExchange(ref _maxInFlight, inFlight, max) == max) break;
        try
        {
            using var aborted = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, _stopping.Token);
            await held.WaitAsync(aborted.Token);
            var delay = Delay + answer.Delay;
            if (delay > TimeSpan.Zero) await Task.Delay(delay, aborted.Token);

            http.Response.StatusCode = answer.Status;
            if (answer.RetryAfter is not null) http.Response.Headers.RetryAfter = answer.RetryAfter;
            if (answer.Location is not null) http.Response.Headers.Location = answer.Location;
            if (answer.Body is not null) await http.Response.WriteAsync(answer.Body, aborted.Token);
        }
        catch (OperationCanceledException)
        {
            // The hub gave up on this request (its timeout) or the receiver is stopping.
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
            Interlocked.Increment(ref _completed);
        }
    }

    private static TaskCompletionSource Released()
    {
        var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        released.SetResult();
        return released;
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _stopping.Dispose();
    }
}

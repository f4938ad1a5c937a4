using Hub.TestSupport;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Hub.IntegrationTests.Infrastructure;

/// <summary>One POST as the receiver saw it: its <c>webhook-id</c> and parsed body.</summary>
public sealed record ReceivedWebhook(string WebhookId, JsonObject Body, DateTimeOffset ReceivedAt)
{
    /// <summary>Its W3C <c>traceparent</c> header, if it had one.</summary>
    public string? TraceParent { get; init; }

    /// <summary>The status the receiver answered it with (200, or 500 for one of the first <see cref="WebhookReceiver.FailFirst"/>).</summary>
    public int AnsweredWith { get; init; } = 200;

    public string Type => Body["type"]?.GetValue<string>() ?? "";
    public JsonObject Data => Body["data"]!.AsObject();
}

/// <summary>
/// A bot's webhook endpoint on loopback (Kestrel): records every POST as it arrives (before answering, so a
/// delivery whose sender dies mid-request still counts as received), then answers 200 after <see cref="Delay"/>
/// (500 to the first <see cref="FailFirst"/> POSTs, so that a delivery is retried).
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Lock _gate = new();
    private readonly List<ReceivedWebhook> _received = [];
    private readonly CancellationTokenSource _stopping = new();
    private int _inFlight;
    private int _failFirst;

    private WebhookReceiver(WebApplication app) => _app = app;

    public static async Task<WebhookReceiver> StartAsync()
    {
        var app = LoopbackServer.Create();
        var receiver = new WebhookReceiver(app);
        app.MapPost("/hook", receiver.HandleAsync);
        var address = await LoopbackServer.StartAsync(app);
        receiver.Url = new Uri(address, "hook").ToString();
        return receiver;
    }

    public string Url { get; private set; } = "";

    /// <summary>How long each request waits before its 200 (a receiver that takes its time).</summary>
    public TimeSpan Delay { get; set; }

    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>How many of the POSTs still to come are answered 500 (each one counts down by one).</summary>
    public int FailFirst
    {
        get { lock (_gate) return _failFirst; }
        set { lock (_gate) _failFirst = value; }
    }

    public IReadOnlyList<ReceivedWebhook> Received
    {
        get { lock (_gate) return [.. _received]; }
    }

    private async Task HandleAsync(HttpContext http)
    {
        var body = (await JsonNode.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted))?.AsObject() ?? [];
        int status;
        lock (_gate)
        {
            status = _failFirst > 0 ? 500 : 200;
            if (_failFirst > 0) _failFirst--;
            _received.Add(new ReceivedWebhook(http.Request.Headers["webhook-id"].ToString(), body, DateTimeOffset.UtcNow)
            {
                TraceParent = http.Request.Headers["traceparent"].FirstOrDefault(),
                AnsweredWith = status,
            });
        }
        Interlocked.Increment(ref _inFlight);
        try
        {
            using var aborted = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, _stopping.Token);
            if (Delay > TimeSpan.Zero) await Task.Delay(Delay, aborted.Token);
            http.Response.StatusCode = status;
            await http.Response.WriteAsync(status == 200 ? "ok" : "failing on purpose", aborted.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The sender went away (a killed dispatcher, or its timeout).
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _stopping.Dispose();
    }
}

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
    public string Type => Body["type"]?.GetValue<string>() ?? "";
    public JsonObject Data => Body["data"]!.AsObject();
}

/// <summary>
/// A bot's webhook endpoint on loopback (Kestrel): records every POST as it arrives (before answering, so a
/// delivery whose sender dies mid-request still counts as received), then answers 200 after <see cref="Delay"/>.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Lock _gate = new();
    private readonly List<ReceivedWebhook> _received = [];
    private readonly CancellationTokenSource _stopping = new();
    private int _inFlight;

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

    public IReadOnlyList<ReceivedWebhook> Received
    {
        get { lock (_gate) return [.. _received]; }
    }

    private async Task HandleAsync(HttpContext http)
    {
        var body = (await JsonNode.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted))?.AsObject() ?? [];
        lock (_gate) _received.Add(new ReceivedWebhook(http.Request.Headers["webhook-id"].ToString(), body, DateTimeOffset.UtcNow));
        Interlocked.Increment(ref _inFlight);
        try
        {
            using var aborted = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, _stopping.Token);
            if (Delay > TimeSpan.Zero) await Task.Delay(Delay, aborted.Token);
            http.Response.StatusCode = 200;
            await http.Response.WriteAsync("ok", aborted.Token);
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

using Hub.TestSupport;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Hub.BrowserTests.Infrastructure;

/// <summary>One delivery as the receiver got it.</summary>
public sealed record Delivery(string Path, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string? Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out var v) ? v : null;
    public JsonObject Json => JsonNode.Parse(Body)!.AsObject();
    public string Type => Json["type"]?.GetValue<string>() ?? "";
    public JsonObject Data => Json["data"]!.AsObject();
    public string BodyText => Encoding.UTF8.GetString(Body);

    /// <summary>Standard Webhooks: one of the <c>v1,…</c> entries is HMAC-SHA256("{id}.{timestamp}.{body}") under the secret.</summary>
    public bool SignedWith(string secret)
    {
        var id = Header("webhook-id");
        var timestamp = Header("webhook-timestamp");
        var header = Header("webhook-signature");
        if (id is null || timestamp is null || header is null) return false;
        using var hmac = new HMACSHA256(Convert.FromBase64String(secret["whsec_".Length..]));
        var expected = "v1," + Convert.ToBase64String(hmac.ComputeHash([.. Encoding.UTF8.GetBytes($"{id}.{timestamp}."), .. Body]));
        return header.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(expected);
    }
}

/// <summary>
/// A bot's webhook endpoint: a real Kestrel app on 127.0.0.1 (port chosen by the OS) that answers 200 and
/// records every POST (<see cref="AnswerWith"/> makes one path answer something else). Each test registers its own path (<see cref="UrlFor"/>) so tests never see each
/// other's deliveries.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<Delivery> _received = [];
    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _status = [];
    private TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private WebhookReceiver(WebApplication app) => _app = app;

    public Uri BaseAddress { get; private set; } = null!;

    public static async Task<WebhookReceiver> StartAsync()
    {
        var app = LoopbackServer.Create();
        var receiver = new WebhookReceiver(app);
        app.Run(receiver.HandleAsync);
        receiver.BaseAddress = await LoopbackServer.StartAsync(app);
        return receiver;
    }

    public string UrlFor(string name) => new Uri(BaseAddress, "/hooks/" + name).ToString();

    /// <summary>From now on, deliveries to <paramref name="name"/> are answered with <paramref name="status"/>.</summary>
    public void AnswerWith(string name, int status)
    {
        lock (_gate) _status["/hooks/" + name] = status;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        var headers = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString());
        lock (_gate)
        {
            _received.Add(new Delivery(context.Request.Path.Value ?? "", headers, body.ToArray()));
            _arrived.TrySetResult();
            _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
            context.Response.StatusCode = _status.GetValueOrDefault(context.Request.Path.Value ?? "", 200);
        }
    }

    public IReadOnlyList<Delivery> ReceivedAt(string name)
    {
        lock (_gate) return _received.Where(d => d.Path == "/hooks/" + name).ToList();
    }

    /// <summary>Waits (generously) for a delivery to <paramref name="name"/> that matches.</summary>
    public async Task<Delivery> WaitForAsync(string name, Func<Delivery, bool> match, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            Task next;
            lock (_gate)
            {
                var found = _received.FirstOrDefault(d => d.Path == "/hooks/" + name && Matches(d, match));
                if (found is not null) return found;
                next = _arrived.Task;
            }
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                throw new Xunit.Sdk.XunitException($"The webhook receiver never got {what}. It got:\n"
                    + string.Join("\n", ReceivedAt(name).Select(d => d.BodyText)));
            await Task.WhenAny(next, Task.Delay(left));
        }
    }

    private static bool Matches(Delivery d, Func<Delivery, bool> match)
    {
        try { return match(d); }
        catch (Exception) { return false; }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

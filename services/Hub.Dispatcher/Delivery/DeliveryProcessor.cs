using System.Collections.Concurrent;
using System.Text;
using Hub.Dispatcher.Signing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Hub.Dispatcher.Delivery;

/// <summary>
/// Makes one try of a claimed delivery: sign the stored body, send it, store the attempt and decide what
/// follows. At most <see cref="DispatcherOptions.EndpointConcurrency"/> tries per endpoint run at once in
/// this process; a delivery that finds its endpoint busy is handed back, due again shortly.
/// </summary>
public sealed class DeliveryProcessor(
    DeliveryStore store,
    WebhookSender sender,
    IOptions<DispatcherOptions> options,
    TimeProvider clock,
    ILogger<DeliveryProcessor> logger)
{
    private static readonly TimeSpan BusyEndpointBackoff = TimeSpan.FromMilliseconds(200);
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _endpoints = new();
    private readonly RetrySchedule _schedule = RetrySchedule.Parse(options.Value.RetrySchedule);
    private readonly TimeSpan _disableAfter = TimeSpan.FromHours(options.Value.DisableAfterHours);

    /// <summary>
    /// How long a claim holds a delivery: the try's timeout twice over (the quick reconnect retry) plus room
    /// to record it. A dispatcher killed mid-try frees its deliveries when this runs out.
    /// </summary>
    public TimeSpan ClaimFor => TimeSpan.FromSeconds(options.Value.TimeoutSeconds * 2 + 5);

    /// <summary>True when this process already has as many tries in flight to the bot's endpoint as it allows.</summary>
    public bool IsSaturated(string botId) => _endpoints.TryGetValue(botId, out var gate) && gate.CurrentCount == 0;

    public IReadOnlyCollection<string> SaturatedEndpoints() =>
        _endpoints.Where(e => e.Value.CurrentCount == 0).Select(e => e.Key).ToList();

    public async Task ProcessAsync(DeliveryWork work, CancellationToken ct)
    {
        var gate = _endpoints.GetOrAdd(work.Bot.Id, _ => new SemaphoreSlim(Math.Max(1, options.Value.EndpointConcurrency)));
        if (!gate.Wait(0))
        {
            await store.ReleaseAsync(work.Delivery.Id, BusyEndpointBackoff);
            return;
        }
        try
        {
            var started = clock.GetUtcNow();
            var body = Encoding.UTF8.GetBytes(work.Delivery.Payload);
            var timestamp = started.ToUnixTimeSeconds();
            var signature = WebhookSignature.Header(ActiveSecrets(work, started), work.Delivery.Id, timestamp, body);
            var result = await sender.SendAsync(new WebhookRequest(work.Bot.WebhookUrl!, work.Delivery.Id, timestamp, signature, body), ct);

            var decision = DispatchPolicy.Decide(result, work.Delivery.AttemptCount + 1, work.Bot.WebhookFailingSince,
                clock.GetUtcNow().ToUnixTimeMilliseconds(), _schedule, _disableAfter, Random.Shared);
            await store.RecordAsync(work, started.ToUnixTimeMilliseconds(), result, decision);
            if (decision is not Decision.Delivered)
                logger.LogInformation("Webhook {DeliveryId} try {Try} to bot {BotId}: {Error} → {Decision}",
                    work.Delivery.Id, work.Delivery.AttemptCount + 1, work.Bot.Id, result.Error, decision.GetType().Name);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>The current secret, and during 24 h after a rotation the previous one as well.</summary>
    private static IEnumerable<string> ActiveSecrets(DeliveryWork work, DateTimeOffset now)
    {
        yield return work.Bot.WebhookSecret;
        if (work.Bot.WebhookPreviousSecret is { } previous && work.Bot.WebhookPreviousSecretExpiresAt > now.ToUnixTimeMilliseconds())
            yield return previous;
    }
}

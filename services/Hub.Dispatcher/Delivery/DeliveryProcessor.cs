using System.Text;
using Hub.Dispatcher.Signing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Hub.Dispatcher.Delivery;

/// <summary>
/// Makes one try of a claimed delivery: sign the stored body, send it, decide what follows. It touches no
/// store: the <see cref="AttemptRecorder"/> writes the attempt, in a batch with others.
/// </summary>
public sealed class DeliveryProcessor(
    WebhookSender sender,
    IOptions<DispatcherOptions> options,
    TimeProvider clock,
    ILogger<DeliveryProcessor> logger)
{
    private readonly RetrySchedule _schedule = RetrySchedule.Parse(options.Value.RetrySchedule);
    private readonly TimeSpan _disableAfter = TimeSpan.FromHours(options.Value.DisableAfterHours);

    /// <summary>
    /// How long a claim holds a delivery: the try's timeout twice over (the quick reconnect retry) plus room
    /// to record it. A dispatcher killed mid-try frees its deliveries when this runs out.
    /// </summary>
    public TimeSpan ClaimFor => TimeSpan.FromSeconds(options.Value.TimeoutSeconds * 2 + 5);

    /// <remarks>
    /// Not cancellable from outside: a POST cut off midway may already have reached the receiver, yet no attempt
    /// would be stored and the delivery would go out again when its claim ran out. The try is bounded by its own timeout.
    /// </remarks>
    public async Task<Attempt> TryAsync(DeliveryWork work)
    {
        var started = clock.GetUtcNow();
        var body = Encoding.UTF8.GetBytes(work.Delivery.Payload);
        var timestamp = started.ToUnixTimeSeconds();
        var signature = WebhookSignature.Header(ActiveSecrets(work, started), work.Delivery.Id, timestamp, body);
        var result = await sender.SendAsync(new WebhookRequest(work.Bot.WebhookUrl!, work.Delivery.Id, timestamp, signature, body), CancellationToken.None);

        var decision = DispatchPolicy.Decide(result, work.Delivery.AttemptCount + 1, work.Bot.WebhookFailingSince,
            clock.GetUtcNow().ToUnixTimeMilliseconds(), _schedule, _disableAfter, Random.Shared);
        if (decision is not Decision.Delivered)
            logger.LogInformation("Webhook {DeliveryId} try {Try} to bot {BotId}: {Error} → {Decision}",
                work.Delivery.Id, work.Delivery.AttemptCount + 1, work.Bot.Id, result.Error, decision.GetType().Name);
        return new Attempt(work, started.ToUnixTimeMilliseconds(), result, decision);
    }

    /// <summary>The current secret, and during 24 h after a rotation the previous one as well.</summary>
    private static IEnumerable<string> ActiveSecrets(DeliveryWork work, DateTimeOffset now)
    {
        yield return work.Bot.WebhookSecret;
        if (work.Bot.WebhookPreviousSecret is { } previous && work.Bot.WebhookPreviousSecretExpiresAt > now.ToUnixTimeMilliseconds())
            yield return previous;
    }
}

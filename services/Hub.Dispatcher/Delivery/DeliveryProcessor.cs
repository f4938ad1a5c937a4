using System.Diagnostics;
using System.Text;
using Hub.Core.Telemetry;
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
    HubMetrics metrics,
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
        var number = work.Delivery.AttemptCount + 1;
        using var activity = StartActivity(work.Delivery, number);
        var started = clock.GetUtcNow();
        var body = Encoding.UTF8.GetBytes(work.Delivery.Payload);
        var timestamp = started.ToUnixTimeSeconds();
        var signature = WebhookSignature.Header(ActiveSecrets(work, started), work.Delivery.Id, timestamp, body);
        // The POST carries a traceparent of the delivery's trace, so the receiver joins it: with a span for this try,
        // HttpClient puts its own child span's; without one (telemetry off), the stored context goes out as it is.
        var result = await sender.SendAsync(activity is null
            ? new WebhookRequest(work.Bot.WebhookUrl!, work.Delivery.Id, timestamp, signature, body, work.Delivery.TraceParent, work.Delivery.TraceState)
            : new WebhookRequest(work.Bot.WebhookUrl!, work.Delivery.Id, timestamp, signature, body), CancellationToken.None);

        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var decision = DispatchPolicy.Decide(result, number, work.Bot.WebhookFailingSince, now, _schedule, _disableAfter, Random.Shared);
        metrics.WebhookAttempt(result.TimedOut ? "timeout" : result.Outcome == AttemptOutcome.Succeeded ? "succeeded" : "failed");
        if (decision is Decision.Delivered) metrics.WebhookDelivered(TimeSpan.FromMilliseconds(now - work.Delivery.CreatedAt));
        if (activity is { IsAllDataRequested: true })
        {
            if (result.StatusCode is { } status) activity.SetTag("http.response.status_code", status);
            activity.SetTag("hub.webhook.decision", decision.GetType().Name);
            if (result.Outcome != AttemptOutcome.Succeeded) activity.SetStatus(ActivityStatusCode.Error, result.Error);
        }
        if (decision is not Decision.Delivered)
            logger.LogInformation("Webhook {DeliveryId} try {Try} to bot {BotId}: {Error} → {Decision}",
                work.Delivery.Id, number, work.Bot.Id, result.Error, decision.GetType().Name);
        return new Attempt(work, started.ToUnixTimeMilliseconds(), result, decision);
    }

    /// <summary>
    /// This try's span, when OpenTelemetry (or another listener) wants one: a child of the trace stored with the
    /// delivery (the request or reply that recorded the event), however long after it the try runs. A delivery
    /// without one starts a trace of its own, never joining whatever the scheduler's thread last ran. With nobody
    /// listening there is no span and no HttpClient activity at all, which a busy dispatcher notices (about 12 %
    /// more CPU per delivery in bench dispatch when every try had both).
    /// </summary>
    private static Activity? StartActivity(DeliveryRecord delivery, int attempt)
    {
        Activity.Current = null;
        if (!HubTracing.Webhooks.HasListeners()) return null;
        var activity = HubTracing.Webhooks.StartActivity("webhook send", ActivityKind.Producer,
            HubTracing.ParentFrom(delivery.TraceParent, delivery.TraceState));
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("hub.delivery.id", delivery.Id);
            activity.SetTag("hub.event.type", delivery.EventType);
            activity.SetTag("hub.bot.id", delivery.BotId);
            activity.SetTag("hub.webhook.attempt", attempt);
        }
        return activity;
    }

    /// <summary>The current secret, and during 24 h after a rotation the previous one as well.</summary>
    private static IEnumerable<string> ActiveSecrets(DeliveryWork work, DateTimeOffset now)
    {
        yield return work.Bot.WebhookSecret;
        if (work.Bot.WebhookPreviousSecret is { } previous && work.Bot.WebhookPreviousSecretExpiresAt > now.ToUnixTimeMilliseconds())
            yield return previous;
    }
}

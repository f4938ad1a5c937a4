using Hub.Dispatcher.Security;

namespace Hub.Api.Bots;

/// <summary>Field rules for bot input, shared by create and update.</summary>
public static class BotValidation
{
    /// <summary>Event types a webhook may subscribe to (API.md, Webhooks).</summary>
    public static readonly HashSet<string> EventTypes =
    [
        "message.reply", "message.received", "conversation.created", "conversation.handoff_requested",
        "conversation.assigned", "conversation.handed_back", "conversation.closed",
    ];

    /// <param name="allowPrivateWebhooks"><c>HUB_WEBHOOK_ALLOW_PRIVATE</c>: without it a URL naming a non-public host
    /// (<c>localhost</c> or a non-public IP, however spelled: see <see cref="OutboundUrl"/>) is refused here already
    /// (names are checked again on every connect, where DNS answers are known).</param>
    public static Dictionary<string, string[]> Check(BotInput input, bool creating, bool allowPrivateWebhooks = false)
    {
        var errors = new Dictionary<string, string[]>();
        void Add(string field, string message) => errors[field] = [message];

        if (creating && string.IsNullOrWhiteSpace(input.Name)) Add("name", "name is required.");
        if (input.Name is { Length: > 200 }) Add("name", "name may be at most 200 characters.");
        if (input.Name is not null && !creating && string.IsNullOrWhiteSpace(input.Name)) Add("name", "name may not be empty.");
        if (input.Instructions is { Length: > 32_000 }) Add("instructions", "instructions may be at most 32,000 characters.");
        if (input.Model is { Length: > 200 }) Add("model", "model may be at most 200 characters.");
        if (input.Temperature is < 0 or > 2) Add("temperature", "temperature must be between 0 and 2.");
        if (input.FallbackText is { Length: > 4_000 }) Add("fallback_text", "fallback_text may be at most 4,000 characters.");
        if (input.BlockingTimeoutSeconds is < 1 or > 600) Add("blocking_timeout_seconds", "blocking_timeout_seconds must be between 1 and 600.");

        if (input.Knowledge is { } knowledge)
        {
            if (knowledge.Count > 1_000) Add("knowledge", "knowledge may hold at most 1,000 entries.");
            else if (knowledge.Any(k => string.IsNullOrWhiteSpace(k) || k.Length > 8_000))
                Add("knowledge", "each knowledge entry must be 1 to 8,000 characters.");
        }
        if (input.Handoff?.Keywords is { } keywords && (keywords.Count > 100 || keywords.Any(k => string.IsNullOrWhiteSpace(k) || k.Length > 100)))
            Add("handoff.keywords", "up to 100 keywords of 1 to 100 characters.");
        if (input.Pricing is { } pricing && (pricing.InputCreditsPer1k < 0 || pricing.OutputCreditsPer1k < 0))
            Add("pricing", "prices may not be negative.");

        if (input.Webhook is { } webhook)
        {
            if (webhook.Url is { Length: > 0 } url && OutboundUrl.Message("webhook.url", url, allowPrivateWebhooks) is { } problem)
                Add("webhook.url", problem);
            if (webhook.Events is { } events && events.FirstOrDefault(e => !EventTypes.Contains(e)) is { } unknown)
                Add("webhook.events", $"unknown event type '{unknown}'.");
            if (webhook.Status is not null and not ("enabled" or "disabled"))
                Add("webhook.status", "webhook.status must be 'enabled' or 'disabled'.");
        }
        return errors;
    }
}

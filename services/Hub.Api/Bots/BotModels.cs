using System.Text.Json.Serialization;
using Hub.Core.Bots;

namespace Hub.Api.Bots;

// Request bodies: a parameter with a default is optional in the OpenAPI document, one without is required
// (System.Text.Json's rule for constructor parameters). Hub checks presence itself (BotValidation), so the
// defaults only make the document say what the API does.
public sealed record WebhookInput(string? Url = null, List<string>? Events = null, string? Status = null);
public sealed record HandoffInput(List<string>? Keywords = null, bool? OnNoAnswer = null);
public sealed record PricingInput(
    [property: JsonPropertyName("input_credits_per_1k")] double? InputCreditsPer1k = null,
    [property: JsonPropertyName("output_credits_per_1k")] double? OutputCreditsPer1k = null);

/// <summary>Body of <c>POST /v1/bots</c>: only <c>name</c> is required.</summary>
public sealed record BotInput(
    string? Name,
    string? Instructions = null,
    string? Model = null,
    double? Temperature = null,
    WebhookInput? Webhook = null,
    HandoffInput? Handoff = null,
    List<string>? Knowledge = null,
    string? FallbackText = null,
    PricingInput? Pricing = null,
    int? BlockingTimeoutSeconds = null);

/// <summary>Body of <c>PATCH /v1/bots/{id}</c>: the same fields, every one optional; null (or absent) means "unchanged".</summary>
public sealed record BotChanges(
    string? Name = null,
    string? Instructions = null,
    string? Model = null,
    double? Temperature = null,
    WebhookInput? Webhook = null,
    HandoffInput? Handoff = null,
    List<string>? Knowledge = null,
    string? FallbackText = null,
    PricingInput? Pricing = null,
    int? BlockingTimeoutSeconds = null)
{
    public BotInput AsInput() => new(Name, Instructions, Model, Temperature, Webhook, Handoff, Knowledge, FallbackText, Pricing, BlockingTimeoutSeconds);
}

public sealed record WebhookView(string? Url, IReadOnlyList<string> Events, string Secret, string Status, string? DisabledReason);
public sealed record HandoffView(IReadOnlyList<string> Keywords, bool OnNoAnswer);
public sealed record PricingView(
    [property: JsonPropertyName("input_credits_per_1k")] double InputCreditsPer1k,
    [property: JsonPropertyName("output_credits_per_1k")] double OutputCreditsPer1k);

public sealed record BotView(
    string Id,
    string Name,
    string? Instructions,
    string? Model,
    double? Temperature,
    WebhookView Webhook,
    HandoffView Handoff,
    IReadOnlyList<string> Knowledge,
    string? FallbackText,
    PricingView Pricing,
    int BlockingTimeoutSeconds,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    /// <summary>Only in the answer to <c>POST /v1/bots</c>: the key is stored hashed and never shown again.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? ApiKey { get; init; }

    public static BotView Of(BotRecord b) => new(
        b.Id, b.Name, b.Instructions, b.Model, b.Temperature,
        new WebhookView(b.WebhookUrl, b.WebhookEventList, b.WebhookSecret, b.WebhookStatus, b.WebhookDisabledReason),
        new HandoffView(b.HandoffKeywordList, b.HandoffOnNoAnswer),
        b.KnowledgeList, b.FallbackText,
        new PricingView(b.InputCreditsPer1k, b.OutputCreditsPer1k),
        b.BlockingTimeoutSeconds,
        DateTimeOffset.FromUnixTimeMilliseconds(b.CreatedAt),
        DateTimeOffset.FromUnixTimeMilliseconds(b.UpdatedAt));
}

public sealed record KeyCreated(string KeyId, string ApiKey, string BotId, DateTimeOffset CreatedAt);
public sealed record KeyView(string KeyId, string BotId, string Prefix, DateTimeOffset CreatedAt);
public sealed record ListResult<T>(IReadOnlyList<T> Data, string? NextCursor, bool HasMore);

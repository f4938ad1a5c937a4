using System.Text.Json;
using Dapper;
using Hub.Core.Data;

namespace Hub.Core.Bots;

/// <summary>A bot as stored; the API, the AI worker and the dispatcher all read it.</summary>
public sealed class BotRecord
{
    public string Id { get; init; } = "";
    public string Name { get; init; } = "";
    public string? Instructions { get; init; }
    public string? Model { get; init; }
    public double? Temperature { get; init; }
    public string Knowledge { get; init; } = "[]";
    public string? FallbackText { get; init; }
    public string HandoffKeywords { get; init; } = "[]";
    /// <summary>When the offline provider finds no answer: hand off to people (true) or reply with fallback_text.</summary>
    public bool HandoffOnNoAnswer { get; init; }
    public double InputCreditsPer1k { get; init; }
    public double OutputCreditsPer1k { get; init; }
    public int BlockingTimeoutSeconds { get; init; } = 60;
    public string? WebhookUrl { get; init; }
    public string WebhookEvents { get; init; } = "[\"message.reply\"]";
    public string WebhookSecret { get; init; } = "";
    public string? WebhookPreviousSecret { get; init; }
    public long? WebhookPreviousSecretExpiresAt { get; init; }
    public string WebhookStatus { get; init; } = "enabled";
    public string? WebhookDisabledReason { get; init; }
    public long? WebhookFailingSince { get; init; }
    public long CreatedAt { get; init; }
    public long UpdatedAt { get; init; }

    public IReadOnlyList<string> KnowledgeList => JsonList(Knowledge);
    public IReadOnlyList<string> HandoffKeywordList => JsonList(HandoffKeywords);
    public IReadOnlyList<string> WebhookEventList => JsonList(WebhookEvents);

    public static string ToJsonList(IEnumerable<string>? values) => JsonSerializer.Serialize(values?.ToArray() ?? []);
    private static IReadOnlyList<string> JsonList(string json) => JsonSerializer.Deserialize<string[]>(json) ?? [];
}

public static class BotReader
{
    public static Task<BotRecord?> GetAsync(HubDb db, string id, CancellationToken ct = default) =>
        WithConnection(db, c => c.QuerySingleOrDefaultAsync<BotRecord>(
            new CommandDefinition("SELECT * FROM bots WHERE id = @id", new { id }, cancellationToken: ct)));

    private static async Task<T> WithConnection<T>(HubDb db, Func<System.Data.Common.DbConnection, Task<T>> work)
    {
        await using var connection = await db.OpenAsync();
        return await work(connection);
    }
}

/// <summary>
/// Bots as the message path reads them (handoff keywords, webhook subscription, prompt and pricing,
/// blocking timeout), several times per message. A bot changed or deleted in this process is evicted at
/// once; another process (a scaled-out AI worker) keeps the old row for up to <c>HUB_CACHE_SECONDS</c>
/// (default 3). The dispatcher reads its own copy (URL, secrets, endpoint health) and does not use this.
/// </summary>
public sealed class BotCache(TimeSpan ttl)
{
    private readonly ShortLivedCache<string, BotRecord> _bots = new(ttl);

    /// <summary>Reads a missing bot on <paramref name="connection"/>, inside <paramref name="transaction"/> when given.</summary>
    public Task<BotRecord?> GetAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction? transaction, string id) =>
        _bots.GetOrLoadAsync(id, (connection, transaction), static (id, s) =>
            s.connection.QuerySingleOrDefaultAsync<BotRecord>("SELECT * FROM bots WHERE id = @id", new { id }, s.transaction));

    /// <summary>Opens a connection only when the bot is not cached.</summary>
    public Task<BotRecord?> GetAsync(HubDb db, string id, CancellationToken ct) =>
        _bots.GetOrLoadAsync(id, (db, ct), static (id, s) => BotReader.GetAsync(s.db, id, s.ct));

    /// <summary>After the bot's row changed (or went) in this process.</summary>
    public void Evict(string id) => _bots.Remove(id);
}

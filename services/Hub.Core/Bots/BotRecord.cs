using System.Text.Json;
using Dapper;
using Hub.Core.Data;
using Hub.Core.Hosting;
using Hub.Core.Redis;
using Microsoft.Extensions.Options;

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
/// once; with Redis every other process drops its copy as soon as it hears so (<see cref="ICacheEvictions"/>),
/// without Redis another process (a scaled-out AI worker) keeps the old row for up to <c>HUB_CACHE_SECONDS</c>
/// (default 3). The dispatcher reads its own copy (URL, secrets, endpoint health) and does not use this.
/// </summary>
public sealed class BotCache
{
    private const string Name = "bots";
    private readonly ShortLivedCache<string, BotRecord> _bots;
    private readonly ICacheEvictions _evictions;

    public BotCache(IOptions<HubOptions> options, ICacheEvictions evictions) : this(TimeSpan.FromSeconds(options.Value.CacheSeconds), evictions) { }

    /// <summary>A cache only this process evicts (tests, tools).</summary>
    public BotCache(TimeSpan ttl) : this(ttl, new LocalCacheEvictions()) { }

    private BotCache(TimeSpan ttl, ICacheEvictions evictions)
    {
        _bots = new(ttl);
        _evictions = evictions;
        evictions.Subscribe(Name, id => { if (id is null) _bots.Clear(); else _bots.Remove(id); });
    }

    /// <summary>Reads a missing bot on <paramref name="connection"/>, inside <paramref name="transaction"/> when given.</summary>
    public Task<BotRecord?> GetAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction? transaction, string id) =>
        _bots.GetOrLoadAsync(id, (connection, transaction), static (id, s) =>
            s.connection.QuerySingleOrDefaultAsync<BotRecord>("SELECT * FROM bots WHERE id = @id", new { id }, s.transaction));

    /// <summary>Opens a connection only when the bot is not cached.</summary>
    public Task<BotRecord?> GetAsync(HubDb db, string id, CancellationToken ct) =>
        _bots.GetOrLoadAsync(id, (db, ct), static (id, s) => BotReader.GetAsync(s.db, id, s.ct));

    /// <summary>After the bot's row changed (or went) in this process: here at once, elsewhere when they hear of it.</summary>
    public void Evict(string id)
    {
        _bots.Remove(id);
        _evictions.Announce(Name, id);
    }
}

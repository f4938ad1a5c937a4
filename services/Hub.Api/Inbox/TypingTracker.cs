using System.Collections.Concurrent;
using System.Security.Claims;
using Dapper;
using Hub.Api.Auth;
using Hub.Core.Data;
using Microsoft.AspNetCore.SignalR;

namespace Hub.Api.Inbox;

/// <summary>
/// Typing indicators that never stick: each signal is announced as active, and unless another arrives
/// within <see cref="Expiry"/> the tracker announces it inactive. Announcements go straight through the hub
/// context: with <c>HUB_REDIS</c> the SignalR backplane carries them to agents on other API processes.
/// </summary>
public sealed class TypingTracker(IHubContext<InboxHub> hub, HubDb db, ILogger<TypingTracker> logger)
{
    public static readonly TimeSpan Expiry = TimeSpan.FromSeconds(5);
    private readonly ConcurrentDictionary<(string Conversation, string Agent), CancellationTokenSource> _active = new();

    public async Task SignalAsync(ClaimsPrincipal agent, string conversationId)
    {
        var botId = await BotOfAsync(agent, conversationId);
        if (botId is null) return;
        var key = (conversationId, agent.AgentId()!);
        var expiry = new CancellationTokenSource();
        _active.AddOrUpdate(key, expiry, (_, old) => { old.Cancel(); return expiry; });
        await PublishAsync(conversationId, botId, agent, active: true);

        _ = Task.Delay(Expiry, expiry.Token).ContinueWith(async t =>
        {
            if (t.IsCanceled || !_active.TryRemove(new KeyValuePair<(string, string), CancellationTokenSource>(key, expiry))) return;
            await PublishAsync(conversationId, botId, agent, active: false);
        }, TaskScheduler.Default);
    }

    public async Task StopAsync(ClaimsPrincipal agent, string conversationId)
    {
        if (!_active.TryRemove((conversationId, agent.AgentId()!), out var expiry)) return;
        expiry.Cancel();
        if (await BotOfAsync(agent, conversationId) is { } botId) await PublishAsync(conversationId, botId, agent, active: false);
    }

    private async Task<string?> BotOfAsync(ClaimsPrincipal agent, string conversationId)
    {
        await using var c = await db.OpenAsync();
        var botId = await c.QuerySingleOrDefaultAsync<string>("SELECT bot_id FROM conversations WHERE id = @conversationId", new { conversationId });
        return botId is not null && agent.MaySee(botId) ? botId : null;
    }

    private async Task PublishAsync(string conversationId, string botId, ClaimsPrincipal agent, bool active)
    {
        try
        {
            await InboxNotifier.Audience(hub, botId).SendAsync("typing", new TypingView(conversationId, agent.AgentName(), agent.AgentId()!, active));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogDebug(e, "Typing signal not published");
        }
    }
}

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
/// <remarks>
/// One entry and one timer per agent typing in a conversation: a further signal moves the timer, it does not
/// make another one. The timer is disposed when the entry goes (expired or stopped), so what is kept is what is
/// typing now, however many signals came before.
/// </remarks>
public sealed class TypingTracker(IHubContext<InboxHub> hub, HubDb db, TimeProvider clock, ILogger<TypingTracker> logger)
{
    public static readonly TimeSpan Expiry = TimeSpan.FromSeconds(5);

    private readonly Dictionary<(string Conversation, string Agent), Typing> _active = new();
    private readonly Lock _lock = new();

    private sealed class Typing(string conversationId, string botId, ClaimsPrincipal agent)
    {
        public readonly string ConversationId = conversationId;
        public readonly string BotId = botId;
        public readonly ClaimsPrincipal Agent = agent;
        public ITimer? Timer;
        /// <summary>When the indicator expires (the clock's timestamp): the timer's callback checks it, not its own firing.</summary>
        public long Deadline;
    }

    /// <summary>Agents shown as typing now, one per conversation they type in.</summary>
    public int Active
    {
        get { lock (_lock) return _active.Count; }
    }

    public async Task SignalAsync(ClaimsPrincipal agent, string conversationId)
    {
        var botId = await BotOfAsync(agent, conversationId);
        if (botId is null) return;
        var key = (conversationId, agent.AgentId()!);
        lock (_lock)
        {
            if (!_active.TryGetValue(key, out var typing))
            {
                _active[key] = typing = new Typing(conversationId, botId, agent);
                typing.Timer = clock.CreateTimer(Expire, (key, typing), Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
            typing.Deadline = clock.GetTimestamp() + (long)(Expiry.TotalSeconds * clock.TimestampFrequency);
            typing.Timer!.Change(Expiry, Timeout.InfiniteTimeSpan);
        }
        await PublishAsync(conversationId, botId, agent, active: true);
    }

    public async Task StopAsync(ClaimsPrincipal agent, string conversationId)
    {
        Typing? typing;
        lock (_lock)
        {
            if (!_active.Remove((conversationId, agent.AgentId()!), out typing)) return;
            typing.Timer!.Dispose();
        }
        if (await BotOfAsync(agent, conversationId) is { } botId) await PublishAsync(conversationId, botId, agent, active: false);
    }

    private void Expire(object? state)
    {
        var (key, typing) = ((ValueTuple<string, string>, Typing))state!;
        lock (_lock)
        {
            if (!_active.TryGetValue(key, out var current) || current != typing) return;
            var left = typing.Deadline - clock.GetTimestamp();
            if (left > 0)
            {
                // Early: a signal moved the deadline while this callback was on its way, or the timer (which counts
                // in milliseconds of its own) fired a little before the deadline as the clock's timestamp reads it.
                // Either way the indicator stays until its deadline: wait for the rest, or it would never expire.
                typing.Timer!.Change(TimeSpan.FromSeconds(Math.Max((double)left / clock.TimestampFrequency, 0.001)), Timeout.InfiniteTimeSpan);
                return;
            }
            _active.Remove(key);
            typing.Timer!.Dispose();
        }
        _ = PublishAsync(typing.ConversationId, typing.BotId, typing.Agent, active: false);
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

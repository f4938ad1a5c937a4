using Hub.Api.Auth;
using Hub.Core.Messages;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;

namespace Hub.Api.Inbox;

/// <summary>
/// The agents' real-time inbox (<c>/hubs/inbox</c>). Client → server: Claim, Reply, HandBack, Close,
/// Typing. Server → client: conversationUpdated, messageCreated, typing. A refused action throws a
/// <see cref="HubException"/> whose message starts with the contract's status and code ("409 conflict: …").
/// </summary>
[Authorize(Policy = AuthExtensions.AgentPolicy)]
public sealed class InboxHub(InboxActions actions, TypingTracker typing, InboxPresence presence) : Microsoft.AspNetCore.SignalR.Hub
{
    public const string Path = "/hubs/inbox";

    /// <summary>
    /// The largest message a client may send. A reply may hold 32,000 characters, and a JSON writer may escape
    /// each UTF-16 unit as <c>\uXXXX</c> (6 bytes; .NET's does for every non-ASCII one), so 32,000 emoji make
    /// ~384 KB: SignalR's default of 32 KB dropped the connection on a reply of 20,000 "é".
    /// </summary>
    public const int MaximumMessageBytes = 512 * 1024;
    public const string AllBots = "bots:all";
    public static string BotGroup(string botId) => "bot:" + botId;

    public override async Task OnConnectedAsync()
    {
        // Agents limited to some bots hear only those bots; everyone else hears every bot.
        if (Context.User!.AgentScope() is { } scope)
            foreach (var botId in scope) await Groups.AddToGroupAsync(Context.ConnectionId, BotGroup(botId));
        else
            await Groups.AddToGroupAsync(Context.ConnectionId, AllBots);
        presence.Connected();
        await base.OnConnectedAsync();
    }

    public override Task OnDisconnectedAsync(Exception? exception)
    {
        presence.Disconnected();
        return base.OnDisconnectedAsync(exception);
    }

    public async Task<object> Claim(string conversationId) => Result(await actions.ClaimAsync(Context.User!, conversationId));

    public async Task<object> Reply(string conversationId, string text)
    {
        var outcome = await actions.ReplyAsync(Context.User!, conversationId, text);
        if (outcome is InboxActions.Done) await typing.StopAsync(Context.User!, conversationId);
        return outcome is InboxActions.Done { Message: { } message } ? MessageView.Of(message) : Result(outcome);
    }

    public async Task<object> HandBack(string conversationId) => Result(await actions.HandBackAsync(Context.User!, conversationId));

    public async Task<object> Close(string conversationId) => Result(await actions.CloseAsync(Context.User!, conversationId));

    public Task Typing(string conversationId) => typing.SignalAsync(Context.User!, conversationId);

    private static object Result(InboxActions.Outcome outcome) => outcome switch
    {
        InboxActions.Done done => Core.Conversations.ConversationView.Of(done.Conversation),
        InboxActions.Refused refused => throw new HubException($"{refused.Status} {refused.Code}: {refused.Detail}"),
        _ => throw new HubException("500 internal_error"),
    };
}

/// <summary>
/// Refusals are the hub's answers, not faults: they are logged at debug. Anything else is an error, logged
/// once here with the method's name, and the caller gets "500 internal_error" rather than a .NET message.
/// </summary>
public sealed class InboxOutcomeFilter(ILogger<InboxOutcomeFilter> logger) : IHubFilter
{
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocation, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        try
        {
            return await next(invocation);
        }
        catch (HubException refused)
        {
            logger.LogDebug("Inbox {Method} refused: {Refusal}", invocation.HubMethodName, refused.Message);
            throw;
        }
        catch (OperationCanceledException) when (invocation.Context.ConnectionAborted.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            logger.LogError(e, "Inbox {Method} failed", invocation.HubMethodName);
            throw new HubException("500 internal_error: Something went wrong on our side.");
        }
    }
}

/// <summary>How many inboxes are connected to this process: with none, there is nobody to push a change to.</summary>
public sealed class InboxPresence
{
    private int _connections;

    public bool Anyone => Volatile.Read(ref _connections) > 0;
    public void Connected() => Interlocked.Increment(ref _connections);
    public void Disconnected() => Interlocked.Decrement(ref _connections);
}

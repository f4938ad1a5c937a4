using System.Runtime.CompilerServices;
using System.Security.Claims;
using Hub.Api.Auth;
using Hub.Api.Errors;
using Hub.Contracts;
using Hub.Core.Bots;
using Hub.Core.Conversations;
using Hub.Core.Data;
using Hub.Core.Messages;
using Hub.Core.Telemetry;
using Hub.Core.Webhooks;
using Hub.Core.Inbox;
using MassTransit;

namespace Hub.Api.Messages;

/// <summary>Only <c>content</c> is required (the OpenAPI document says so: <c>response_mode</c> has a default).</summary>
public sealed record SendMessageInput(string? Content, string? ResponseMode = null);

/// <summary>202 bodies: <c>accepted</c> (webhook mode), <c>handed_off</c>, <c>pending</c> (blocking timeout).</summary>
public sealed record MessageStatus(string Status, string MessageId, string ConversationId);

public sealed record SseMessageDelta(string MessageId, string ConversationId, string Delta);
public sealed record SseHandoff(string ConversationId, string Status);
public sealed record SseError(string Code, string Message, string? MessageId);

/// <summary>
/// <c>POST /v1/conversations/{id}/messages</c>: store the user's message, have it answered, and return the
/// reply the way the caller chose: blocking, streaming (SSE) or webhook.
/// </summary>
public static class MessagesApi
{
    public const int MaxContentLength = MessageContent.MaxCharacters;
    public static readonly string[] Modes = ["blocking", "streaming", "webhook"];

    public static RouteHandlerBuilder MapMessagesApi(this IEndpointRouteBuilder app) =>
        app.MapPost("/v1/conversations/{id}/messages", SendMessage)
            .WithTags("Conversations")
            .WithName("SendMessage")
            .WithSummary("Send a user message; the reply comes back blocking, as SSE, or by webhook.")
            .Accepts<SendMessageInput>("application/json")
            .Produces<ReplyObject>(200)
            .Produces<MessageStatus>(202)
            .Produces(200, contentType: "text/event-stream")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(409).ProducesProblem(413).ProducesProblem(503)
            .RequireAuthorization(Auth.AuthExtensions.ClientPolicy);

    internal static async Task<IResult> SendMessage(
        string id, HttpRequest request, ClaimsPrincipal user, MessageIntake intake, ReplyWaiters waiters,
        IBus bus, HubDb db, BotCache bots, Microsoft.Extensions.Options.IOptions<MessageOptions> options, ApiInstance instance, HubMetrics metrics,
        ILogger<MessageIntake> logger)
    {
        var input = await JsonBody.ReadAsync<SendMessageInput>(request);
        var mode = input.ResponseMode ?? "blocking";
        if (string.IsNullOrEmpty(input.Content)) return HubProblem.Validation("content", "content must be 1 to 32,000 characters.");
        if (MessageContent.IsTooLong(input.Content))
            return HubProblem.Of(413, "payload_too_large", "content may be at most 32,000 characters.",
                new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["content"] = ["content may be at most 32,000 characters."] } });
        if (!Modes.Contains(mode)) return HubProblem.Validation("response_mode", "response_mode must be blocking, streaming or webhook.");
        string? key = request.Headers["Idempotency-Key"];
        if (key is { Length: 0 or > 255 }) return HubProblem.Validation("Idempotency-Key", "Idempotency-Key must be 1 to 255 characters.");

        var ct = request.HttpContext.RequestAborted;
        if (mode == "webhook" && await RepliesHaveNowhereToGoAsync(user, id, db, bots, ct))
            return HubProblem.Of(409, "webhook_not_configured",
                "This bot has no webhook URL subscribed to message.reply, so a webhook-mode reply would never leave. " +
                "Set webhook.url (PATCH /v1/bots/{id}) or send with response_mode blocking or streaming.");
        var outcome = await intake.AcceptAsync(user, id, input.Content, mode, key, ct);
        if (outcome is not MessageIntake.Accepted accepted)
            return outcome switch
            {
                MessageIntake.ConversationClosed => HubProblem.Of(409, "conversation_closed", "The conversation is closed."),
                MessageIntake.KeyReused => HubProblem.Conflict("This Idempotency-Key was used with a different request."),
                _ => HubProblem.NotFound("The conversation"),
            };

        var message = accepted.Message;
        if (!accepted.Replayed)
        {
            metrics.MessageAccepted(mode);
            if (accepted.HandedOff) metrics.Reply("ai", "handed_off");
            await WebhookOutbox.NotifyAsync(bus, accepted.DeliveryIds);
            await InboxSignals.MessageStoredAsync(bus, message.Id, message.ConversationId, message.BotId);
            if (accepted.Conversation.Status != ConversationStatus.Bot)
                await InboxSignals.ConversationChangedAsync(bus, message.ConversationId, message.BotId);
        }
        if (message.ReplyState is null)
            return WithPeople(mode, message);
        if (mode == "webhook")
        {
            if (!accepted.Replayed) await PublishAsync(bus, message, streamDeltas: false, instance, logger);
            return TypedResults.Accepted((string?)null, new MessageStatus("accepted", message.Id, message.ConversationId));
        }

        var bot = await bots.GetAsync(db, message.BotId, ct);
        var timeout = TimeSpan.FromSeconds(bot?.BlockingTimeoutSeconds ?? 60);
        var waiter = waiters.Register(message.Id);
        try
        {
            if (accepted.Replayed) await SettleFromStoreAsync(waiter, message.Id, accepted.Conversation, intake, ct);
            else await PublishAsync(bus, message, streamDeltas: mode == "streaming", instance, logger);
        }
        catch
        {
            waiter.Dispose();
            throw;
        }

        if (mode == "streaming")
        {
            var ping = TimeSpan.FromSeconds(options.Value.SsePingSeconds);
            return new ServerSentEventsResult(Stream(waiter, message, timeout, ping, intake, bus));
        }

        using (waiter)
        {
            ReplySignal? end;
            try
            {
                end = await waiter.WaitForEndAsync(timeout, ct);
            }
            catch (OperationCanceledException)
            {
                await WebhookOutbox.NotifyAsync(bus, [await intake.HandOverToWebhookAsync(message.Id)]);
                throw;
            }
            switch (end)
            {
                case ReplyEnded ended when await ReplyOfAsync(ended, message, intake) is { } reply:
                    return TypedResults.Ok(ReplyObject.Of(reply) with { Status = "answered" });
                case ReplyNotProduced failed:
                    return Unavailable(message, failed);
                case ReplyWithheld { ConversationStatus: ConversationStatus.Closed }:
                    return HubProblem.Of(409, "conversation_closed", "The conversation was closed before the reply.");
                case ReplyWithheld:
                    return TypedResults.Accepted((string?)null, new MessageStatus("handed_off", message.Id, message.ConversationId));
                default:
                    await WebhookOutbox.NotifyAsync(bus, [await intake.HandOverToWebhookAsync(message.Id)]);
                    return TypedResults.Accepted((string?)null, new MessageStatus("pending", message.Id, message.ConversationId));
            }
        }
    }

    /// <summary>
    /// True when a webhook-mode reply could not be delivered: the conversation's bot has no webhook URL, or its
    /// webhook is not subscribed to <c>message.reply</c>. Checked before anything is stored, so a refused message
    /// leaves no trace. A disabled endpoint is not refused: its deliveries wait until it is enabled again.
    /// </summary>
    private static async Task<bool> RepliesHaveNowhereToGoAsync(ClaimsPrincipal user, string conversationId, HubDb db, BotCache bots,
        CancellationToken ct)
    {
        var botId = user.BotId() ?? (await Hub.Api.Conversations.ConversationsApi.FindAsync(db, conversationId, user))?.BotId;
        if (botId is null) return false; // an unknown conversation: the intake answers 404
        var bot = await bots.GetAsync(db, botId, ct);
        return bot is not null && (string.IsNullOrEmpty(bot.WebhookUrl) || !bot.WebhookEventList.Contains(WebhookOutbox.Types.MessageReply));
    }

    private static IResult WithPeople(string mode, MessageRecord message) => mode switch
    {
        "webhook" => TypedResults.Accepted((string?)null, new MessageStatus("accepted", message.Id, message.ConversationId)),
        "streaming" => new ServerSentEventsResult(Once(new SseFrame("handoff", new SseHandoff(message.ConversationId, "handed_off")))),
        _ => TypedResults.Accepted((string?)null, new MessageStatus("handed_off", message.Id, message.ConversationId)),
    };

    private static IResult Unavailable(MessageRecord message, ReplyNotProduced failed) =>
        HubProblem.Of(503, "unavailable", $"The AI could not answer ({failed.Code}); the message is stored. {failed.Detail}",
            new Dictionary<string, object?> { ["message_id"] = message.Id, ["conversation_id"] = message.ConversationId });

    /// <summary>
    /// A publish that fails (broker down) is not the caller's problem: the message is stored as pending
    /// and the re-driver publishes it again.
    /// </summary>
    private static async Task PublishAsync(IBus bus, MessageRecord message, bool streamDeltas, ApiInstance instance, ILogger logger)
    {
        using var timeout = new CancellationTokenSource(Core.Webhooks.WebhookOutbox.PublishTimeout);
        try
        {
            await bus.Publish(new ProduceReply(message.Id, message.ConversationId, message.BotId, streamDeltas, instance.Id), timeout.Token);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning(e, "Publishing ProduceReply for {MessageId} failed; the re-driver will retry it", message.Id);
        }
    }

    /// <summary>The reply as the worker's event carried it, or else (a redelivery, an older worker) as stored.</summary>
    private static async Task<MessageRecord?> ReplyOfAsync(ReplyEnded ended, MessageRecord message, MessageIntake intake) =>
        ended.Reply is { } r
            ? new MessageRecord
            {
                Id = ended.ReplyMessageId, ConversationId = message.ConversationId, BotId = message.BotId, Sequence = r.Sequence,
                Sender = "ai", Content = r.Content, ReplyTo = message.Id, PromptTokens = r.PromptTokens,
                CompletionTokens = r.CompletionTokens, InputCredits = r.InputCredits, OutputCredits = r.OutputCredits, CreatedAt = r.CreatedAt,
            }
            : await intake.GetAsync(ended.ReplyMessageId, CancellationToken.None);

    /// <summary>An idempotent replay: answer from what is stored, or keep waiting if the reply is still coming.</summary>
    private static async Task SettleFromStoreAsync(ReplyWaiter waiter, string messageId, ConversationRecord conversation,
        MessageIntake intake, CancellationToken ct)
    {
        var current = await intake.GetAsync(messageId, ct);
        switch (current?.ReplyState)
        {
            case ReplyStates.Answered when await intake.ReplyToAsync(messageId, ct) is { } reply:
                waiter.Settle(new ReplyEnded(reply.Id));
                break;
            case ReplyStates.Failed:
                waiter.Settle(new ReplyNotProduced(current.ErrorCode ?? "llm_error", "The earlier attempt failed."));
                break;
            case ReplyStates.Skipped:
                waiter.Settle(new ReplyWithheld(conversation.Status == ConversationStatus.Bot ? ConversationStatus.PendingHuman : conversation.Status));
                break;
        }
    }

    private static async IAsyncEnumerable<SseFrame> Stream(ReplyWaiter waiter, MessageRecord message, TimeSpan timeout,
        TimeSpan ping, MessageIntake intake, IBus bus, [EnumeratorCancellation] CancellationToken ct = default)
    {
        using var _ = waiter;
        var deadline = DateTimeOffset.UtcNow + timeout;
        var streamed = false;
        var finished = false;
        try
        {
            while (true)
            {
                var remaining = deadline - DateTimeOffset.UtcNow;
                if (remaining <= TimeSpan.Zero) break;

                ReplySignal? signal = null;
                var closed = false;
                // Chunks mostly arrive in bursts: take what is already there without arming a timer for it.
                if (!waiter.Signals.TryRead(out signal))
                {
                    using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    wait.CancelAfter(remaining < ping ? remaining : ping);
                    try
                    {
                        signal = await waiter.Signals.ReadAsync(wait.Token);
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        // Quiet for a ping interval (or the deadline passed): the loop decides which.
                    }
                    catch (System.Threading.Channels.ChannelClosedException)
                    {
                        closed = true;
                    }
                }
                if (closed) break;
                if (signal is null)
                {
                    if (deadline - DateTimeOffset.UtcNow > TimeSpan.Zero) yield return SseFrame.Ping;
                    continue;
                }

                switch (signal)
                {
                    case ReplyDelta delta:
                        streamed = true;
                        yield return new SseFrame("message", new SseMessageDelta(delta.ReplyMessageId, message.ConversationId, delta.Text));
                        break;
                    case ReplyEnded ended:
                        var reply = await ReplyOfAsync(ended, message, intake);
                        if (reply is null) { yield return new SseFrame("error", new SseError("internal_error", "The stored reply could not be read.", message.Id)); yield break; }
                        if (!streamed) yield return new SseFrame("message", new SseMessageDelta(reply.Id, message.ConversationId, reply.Content));
                        finished = true;
                        yield return new SseFrame("message_end", ReplyObject.Of(reply));
                        yield break;
                    case ReplyNotProduced failed:
                        finished = true;
                        yield return new SseFrame("error", new SseError("unavailable", $"The AI could not answer ({failed.Code}); the message is stored.", message.Id));
                        yield break;
                    case ReplyWithheld { ConversationStatus: ConversationStatus.Closed }:
                        finished = true;
                        yield return new SseFrame("error", new SseError("conversation_closed", "The conversation was closed before the reply.", message.Id));
                        yield break;
                    case ReplyWithheld:
                        finished = true;
                        yield return new SseFrame("handoff", new SseHandoff(message.ConversationId, "handed_off"));
                        yield break;
                }
            }

            yield return new SseFrame("error", new SseError("timeout",
                $"No reply within {timeout.TotalSeconds:0} s; it will be stored and delivered by webhook.", message.Id));
        }
        finally
        {
            // Timed out, or the caller went away mid-stream: the reply goes out by webhook instead.
            if (!finished) await WebhookOutbox.NotifyAsync(bus, [await intake.HandOverToWebhookAsync(message.Id)]);
        }
    }

    private static async IAsyncEnumerable<SseFrame> Once(SseFrame frame)
    {
        await Task.CompletedTask;
        yield return frame;
    }
}

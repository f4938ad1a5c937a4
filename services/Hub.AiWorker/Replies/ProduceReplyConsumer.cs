using System.Text;
using Hub.AiWorker.Llm;
using Hub.Contracts;
using Hub.Core.Hosting;
using Hub.Core.Inbox;
using Hub.Core.Messages;
using Hub.Core.Replies;
using Hub.Core.Telemetry;
using Hub.Core.Webhooks;
using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Hub.AiWorker.Replies;

/// <summary>
/// Answers one user message: claim it, ask the LLM (retrying transient failures before the first chunk),
/// stream chunks to whoever listens, store the reply once, announce it. Redeliveries are harmless: a
/// message already answered is announced again, one being answered elsewhere is left alone.
/// </summary>
public sealed class ProduceReplyConsumer(
    ReplyStore store,
    IReplyRoute replies,
    ILlmProvider llm,
    LlmResilience resilience,
    HubMetrics metrics,
    IOptions<AiWorkerOptions> options,
    ILogger<ProduceReplyConsumer> logger) : IConsumer<ProduceReply>
{
    public async Task Consume(ConsumeContext<ProduceReply> context)
    {
        var command = context.Message;
        var ct = context.CancellationToken;
        var claim = await store.ClaimAsync(command.MessageId, TimeSpan.FromSeconds(options.Value.ReplyLeaseSeconds), ct);
        switch (claim)
        {
            case ReplyStore.AlreadyAnswered answered:
                await replies.SendAsync(context, context.Message.ReplyAddress, new ReplyProduced(command.MessageId, command.ConversationId, answered.ReplyId, 0), ct);
                return;
            case ReplyStore.NotWithBot notWithBot:
                await replies.SendAsync(context, context.Message.ReplyAddress, new ReplySkipped(command.MessageId, command.ConversationId, notWithBot.Status), ct);
                return;
            case ReplyStore.Claimed claimed:
                // The request's trace, from the store: the reply's LLM call and webhook deliveries belong to it.
                using (HubTracing.StartReply(claimed.Message.TraceParent))
                try
                {
                    await AnswerAsync(context, claimed, ct);
                }
                catch (Exception e) when (e is OperationCanceledException && ct.IsCancellationRequested || TransientErrors.IsTransient(e))
                {
                    // Give the claim back so the bus's retry (or another worker) takes the message at once, not
                    // after the lease. If the store is still away, the lease frees it later.
                    try
                    {
                        await store.ReleaseAsync(claimed.Message.Id);
                    }
                    catch (Exception release) when (TransientErrors.IsTransient(release))
                    {
                        logger.LogWarning(release, "Claim on {MessageId} not given back; its lease will free it", claimed.Message.Id);
                    }
                    throw;
                }
                return;
        }
    }

    private async Task AnswerAsync(ConsumeContext<ProduceReply> context, ReplyStore.Claimed claimed, CancellationToken ct)
    {
        var (message, bot) = (claimed.Message, claimed.Bot);
        var history = await store.HistoryAsync(message, options.Value.HistoryMessages, ct);
        var request = PromptBuilder.Build(bot, history, knowledgeInPrompt: llm is not OfflineProvider);
        var replyId = Ids.New("msg");
        var text = new StringBuilder();
        var deltas = 0;
        var handoff = false;
        string? handoffReason = null;
        LlmTokenUsage? usage = null;

        Exception? failure = null;
        using (var call = LlmCallTelemetry.Start(metrics, llm, request))
        {
            try
            {
                var started = await resilience.StartAsync(llm, request, ct);
                if (started is { } s)
                {
                    await using var stream = s.Stream;
                    var update = s.First;
                    while (true)
                    {
                        if (!string.IsNullOrEmpty(update.Text))
                        {
                            text.Append(update.Text);
                            if (context.Message.StreamDeltas)
                                await replies.SendAsync(context, context.Message.ReplyAddress, new ReplyDeltaProduced(message.Id, message.ConversationId, replyId, deltas++, update.Text), ct);
                        }
                        usage = update.Usage ?? usage;
                        handoff |= update.Handoff;
                        handoffReason = update.HandoffReason ?? handoffReason;
                        if (!await stream.MoveNextAsync()) break;
                        update = stream.Current;
                    }
                }
                if (usage is not null) call.Usage(usage);
            }
            catch (Exception e) when (e is LlmTransientException or LlmPermanentException)
            {
                call.Failed(FailureCode(e), e);
                failure = e;
            }
        }
        if (failure is not null)
        {
            var code = FailureCode(failure);
            logger.LogWarning(failure, "No reply for {MessageId}: {Code}", message.Id, code);
            await store.MarkFailedAsync(message.Id, code, ct);
            metrics.Reply("ai", "failed");
            await replies.SendAsync(context, context.Message.ReplyAddress, new ReplyFailed(message.Id, message.ConversationId, code, failure.Message), ct);
            return;
        }

        if (handoff)
        {
            var (status, deliveryId) = await store.HandOffAsync(message, handoffReason ?? "requested by the model", ct);
            logger.LogInformation("Conversation {ConversationId} handed off by the model: {Reason}", message.ConversationId, handoffReason);
            if (usage is not null) metrics.LlmTokens(usage.PromptTokens, usage.CompletionTokens);
            metrics.Reply("ai", "handed_off");
            await replies.SendAsync(context, context.Message.ReplyAddress, new ReplySkipped(message.Id, message.ConversationId, status), ct);
            await WebhookOutbox.NotifyAsync(context, [deliveryId], ct);
            await InboxSignals.ConversationChangedAsync(context, message.ConversationId, message.BotId, ct);
            return;
        }

        var tokens = usage ?? new LlmTokenUsage(TokenCounter.CountPrompt(request.Messages), TokenCounter.Count(text.ToString()));
        var (inputCredits, outputCredits) = Credits.For(tokens.PromptTokens, tokens.CompletionTokens, bot.InputCreditsPer1k, bot.OutputCreditsPer1k);
        var stored = await store.StoreReplyAsync(message, replyId, text.ToString(), request.Model ?? llm.Name,
            new LlmUsageTotals(tokens.PromptTokens, tokens.CompletionTokens, inputCredits, outputCredits), ct);

        switch (stored)
        {
            case ReplyStore.Inserted inserted:
                metrics.LlmTokens(tokens.PromptTokens, tokens.CompletionTokens);
                metrics.Reply("ai", "answered");
                var r = inserted.Reply;
                await replies.SendAsync(context, context.Message.ReplyAddress, new ReplyProduced(message.Id, message.ConversationId, r.Id, deltas,
                    new StoredReply(r.Sequence, r.Content, r.PromptTokens, r.CompletionTokens, r.InputCredits, r.OutputCredits, r.CreatedAt)), ct);
                await WebhookOutbox.NotifyAsync(context, [inserted.DeliveryId], ct);
                await InboxSignals.MessageStoredAsync(context, inserted.Reply.Id, message.ConversationId, message.BotId, ct);
                break;
            case ReplyStore.Duplicate duplicate:
                await replies.SendAsync(context, context.Message.ReplyAddress, new ReplyProduced(message.Id, message.ConversationId, duplicate.ReplyId, 0), ct);
                break;
            case ReplyStore.Refused refused:
                logger.LogInformation("Reply to {MessageId} dropped: the conversation is now {Status}", message.Id, refused.Status);
                await replies.SendAsync(context, context.Message.ReplyAddress, new ReplySkipped(message.Id, message.ConversationId, refused.Status), ct);
                break;
        }
    }

    private static string FailureCode(Exception e) => e is LlmTransientException ? "llm_unavailable" : "llm_error";
}

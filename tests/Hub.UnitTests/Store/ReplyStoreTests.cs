using Dapper;
using Hub.AiWorker.Replies;
using Hub.Core.Conversations;
using Hub.Core.Messages;

namespace Hub.UnitTests.Store;

public class ReplyStoreTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(3);
    private static readonly LlmUsageTotals Usage = new(19, 10, 0.0095, 0.015);

    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 1, 1, 9, 0, 0, TimeSpan.Zero));

    private async Task<(TestStore Store, ReplyStore Replies, MessageRecord Message)> ArrangeAsync(string kind)
    {
        var store = await TestStore.CreateAsync(kind);
        var bot = await Rows.BotAsync(store.Db);
        var conversation = await Rows.ConversationAsync(store.Db, bot);
        var message = await Rows.UserMessageAsync(store.Db, conversation);
        return (store, new ReplyStore(store.Db, new Hub.Core.Bots.BotCache(TimeSpan.FromSeconds(3)), _clock), message);
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task A_pending_message_is_claimed_with_a_lease(string kind)
    {
        var (store, replies, message) = await ArrangeAsync(kind);
        await using var _ = store;

        var claim = Assert.IsType<ReplyStore.Claimed>(await replies.ClaimAsync(message.Id, Lease, default));

        Assert.Equal(message.Id, claim.Message.Id);
        Assert.Equal(message.BotId, claim.Bot.Id);
        var stored = await Rows.MessageAsync(store.Db, message.Id);
        Assert.Equal(ReplyStates.Working, stored.ReplyState);
        Assert.Equal(_clock.NowMs + (long)Lease.TotalMilliseconds, stored.RedriveAt);
        Assert.Equal(1, stored.Attempts);
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task A_message_under_a_live_lease_is_not_claimed_again(string kind)
    {
        var (store, replies, message) = await ArrangeAsync(kind);
        await using var _ = store;
        await replies.ClaimAsync(message.Id, Lease, default);

        _clock.Advance(Lease - TimeSpan.FromSeconds(1));

        Assert.IsType<ReplyStore.Nothing>(await replies.ClaimAsync(message.Id, Lease, default));
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task A_message_whose_lease_ran_out_is_claimed_again(string kind)
    {
        var (store, replies, message) = await ArrangeAsync(kind);
        await using var _ = store;
        await replies.ClaimAsync(message.Id, Lease, default);

        _clock.Advance(Lease + TimeSpan.FromSeconds(1));

        Assert.IsType<ReplyStore.Claimed>(await replies.ClaimAsync(message.Id, Lease, default));
        Assert.Equal(2, (await Rows.MessageAsync(store.Db, message.Id)).Attempts);
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task A_second_reply_to_the_same_message_is_a_duplicate(string kind)
    {
        var (store, replies, message) = await ArrangeAsync(kind);
        await using var _ = store;

        var first = Assert.IsType<ReplyStore.Inserted>(await replies.StoreReplyAsync(message, "msg_first", "Ships today.", "offline", Usage, default));
        var second = Assert.IsType<ReplyStore.Duplicate>(await replies.StoreReplyAsync(message, "msg_second", "Ships tomorrow.", "offline", Usage, default));

        Assert.Equal(first.Reply.Id, second.ReplyId);
        var ai = (await Rows.MessagesAsync(store.Db, message.ConversationId)).Where(m => m.Sender == "ai").ToList();
        Assert.Equal("msg_first", Assert.Single(ai).Id);
        Assert.Equal(2, ai[0].Sequence);
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task Concurrent_workers_store_exactly_one_reply(string kind)
    {
        var (store, replies, message) = await ArrangeAsync(kind);
        await using var _ = store;

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            Task.Run(() => replies.StoreReplyAsync(message, $"msg_reply_{i}", $"Answer {i}", "offline", Usage, default))));

        var inserted = Assert.Single(outcomes.OfType<ReplyStore.Inserted>());
        Assert.All(outcomes.OfType<ReplyStore.Duplicate>(), d => Assert.Equal(inserted.Reply.Id, d.ReplyId));
        Assert.Equal(7, outcomes.OfType<ReplyStore.Duplicate>().Count());
        var rows = await Rows.MessagesAsync(store.Db, message.ConversationId);
        Assert.Equal([1L, 2L], rows.Select(m => m.Sequence));
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task The_stored_reply_answers_the_message_with_its_usage(string kind)
    {
        var (store, replies, message) = await ArrangeAsync(kind);
        await using var _ = store;

        await replies.StoreReplyAsync(message, "msg_reply", "Ships today.", "gpt-4o-mini", Usage, default);

        var user = await Rows.MessageAsync(store.Db, message.Id);
        Assert.Equal(ReplyStates.Answered, user.ReplyState);
        Assert.Null(user.RedriveAt);
        var reply = await Rows.MessageAsync(store.Db, "msg_reply");
        Assert.Equal((message.Id, "ai", "Ships today.", "gpt-4o-mini"), (reply.ReplyTo, reply.Sender, reply.Content, reply.Model));
        Assert.Equal((19, 10, 0.0095, 0.015), (reply.PromptTokens, reply.CompletionTokens, reply.InputCredits, reply.OutputCredits));
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task Claiming_an_answered_message_names_the_existing_reply(string kind)
    {
        var (store, replies, message) = await ArrangeAsync(kind);
        await using var _ = store;
        await replies.ClaimAsync(message.Id, Lease, default);
        await replies.StoreReplyAsync(message, "msg_reply", "Ships today.", "offline", Usage, default);

        var claim = Assert.IsType<ReplyStore.AlreadyAnswered>(await replies.ClaimAsync(message.Id, Lease, default));

        Assert.Equal("msg_reply", claim.ReplyId);
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task No_reply_is_stored_once_the_conversation_left_the_bot(string kind)
    {
        var (store, replies, message) = await ArrangeAsync(kind);
        await using var _ = store;
        await replies.ClaimAsync(message.Id, Lease, default);
        await Rows.SetStatusAsync(store.Db, message.ConversationId, ConversationStatus.PendingHuman);

        var refused = Assert.IsType<ReplyStore.Refused>(await replies.StoreReplyAsync(message, "msg_reply", "Ships today.", "offline", Usage, default));

        Assert.Equal(ConversationStatus.PendingHuman, refused.Status);
        Assert.Equal(ReplyStates.Skipped, (await Rows.MessageAsync(store.Db, message.Id)).ReplyState);
        Assert.DoesNotContain(await Rows.MessagesAsync(store.Db, message.ConversationId), m => m.Sender == "ai");
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task A_message_in_a_conversation_not_with_the_bot_is_skipped_not_claimed(string kind)
    {
        var (store, replies, message) = await ArrangeAsync(kind);
        await using var _ = store;
        await Rows.SetStatusAsync(store.Db, message.ConversationId, ConversationStatus.Closed);

        var claim = Assert.IsType<ReplyStore.NotWithBot>(await replies.ClaimAsync(message.Id, Lease, default));

        Assert.Equal(ConversationStatus.Closed, claim.Status);
        var stored = await Rows.MessageAsync(store.Db, message.Id);
        Assert.Equal((ReplyStates.Skipped, (long?)null), (stored.ReplyState, stored.RedriveAt));
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task An_unknown_message_gives_nothing_to_claim(string kind)
    {
        var (store, replies, _) = await ArrangeAsync(kind);
        await using var __ = store;

        Assert.IsType<ReplyStore.Nothing>(await replies.ClaimAsync("msg_unknown", Lease, default));
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task A_failure_is_recorded_on_the_working_message(string kind)
    {
        var (store, replies, message) = await ArrangeAsync(kind);
        await using var _ = store;
        await replies.ClaimAsync(message.Id, Lease, default);

        await replies.MarkFailedAsync(message.Id, "llm_unavailable", default);

        var stored = await Rows.MessageAsync(store.Db, message.Id);
        Assert.Equal((ReplyStates.Failed, "llm_unavailable", (long?)null), (stored.ReplyState, stored.ErrorCode, stored.RedriveAt));
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task History_is_the_latest_messages_up_to_this_one_oldest_first(string kind)
    {
        var (store, replies, first) = await ArrangeAsync(kind);
        await using var _ = store;
        await replies.StoreReplyAsync(first, "msg_reply", "Ships today.", "offline", Usage, default);
        var second = await Rows.UserMessageAsync(store.Db, first.ConversationId, "Thanks!");
        await Rows.UserMessageAsync(store.Db, first.ConversationId, "Later message, not history yet");

        var history = await replies.HistoryAsync(second, limit: 2, default);

        Assert.Equal([("ai", "Ships today."), ("user", "Thanks!")], history.Select(m => (m.Sender, m.Content)));
    }
}

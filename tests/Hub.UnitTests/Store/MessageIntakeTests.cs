using System.Security.Claims;
using Hub.Api.Auth;
using Hub.Api.Messages;
using Hub.Core.Conversations;
using Hub.Core.Messages;
using Microsoft.Extensions.Configuration;

namespace Hub.UnitTests.Store;

public class MessageIntakeTests
{
    private static readonly ClaimsPrincipal Admin = new(new ClaimsIdentity([new Claim(ClaimTypes.Role, HubClaims.AdminRole)], HubClaims.Scheme));

    private static ClaimsPrincipal BotKey(string botId) => new(new ClaimsIdentity(
        [new Claim(HubClaims.BotIdClaim, botId), new Claim(ClaimTypes.Role, "bot")], HubClaims.Scheme));

    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 1, 1, 9, 0, 0, TimeSpan.Zero));

    private MessageIntake Intake(TestStore store) =>
        new(store.Db, new Hub.Core.Bots.BotCache(TimeSpan.FromSeconds(3)), _clock, Microsoft.Extensions.Options.Options.Create(new MessageOptions { ReplyRedriveSeconds = 30 }));

    private static async Task<(TestStore Store, string BotId, string ConversationId)> ArrangeAsync(string kind, string status = ConversationStatus.Bot)
    {
        var store = await TestStore.CreateAsync(kind);
        var bot = await Rows.BotAsync(store.Db);
        return (store, bot, await Rows.ConversationAsync(store.Db, bot, status));
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task Concurrent_messages_get_sequences_1_to_N_without_gaps_or_repeats(string kind)
    {
        var (store, _, conversation) = await ArrangeAsync(kind);
        await using var _ = store;
        var intake = Intake(store);

        var outcomes = await Task.WhenAll(Enumerable.Range(1, 30).Select(i =>
            Task.Run(() => intake.AcceptAsync(Admin, conversation, $"message {i}", "blocking", null, default))));

        var accepted = outcomes.Select(o => Assert.IsType<MessageIntake.Accepted>(o)).ToList();
        Assert.Equal(Enumerable.Range(1, 30).Select(i => (long)i), accepted.Select(a => a.Message.Sequence).Order());
        Assert.Equal(Enumerable.Range(1, 30).Select(i => (long)i), (await Rows.MessagesAsync(store.Db, conversation)).Select(m => m.Sequence));
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task A_message_to_the_bot_is_stored_pending_with_a_redrive_time(string kind)
    {
        var (store, bot, conversation) = await ArrangeAsync(kind);
        await using var _ = store;

        var accepted = Assert.IsType<MessageIntake.Accepted>(
            await Intake(store).AcceptAsync(Admin, conversation, "Where is my order?", "streaming", null, default));

        Assert.False(accepted.Replayed);
        var stored = await Rows.MessageAsync(store.Db, accepted.Message.Id);
        Assert.Equal((bot, "user", "Where is my order?", "streaming"), (stored.BotId, stored.Sender, stored.Content, stored.ResponseMode));
        Assert.Equal((ReplyStates.Pending, _clock.NowMs + 30_000), (stored.ReplyState, stored.RedriveAt));
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task A_message_to_a_handed_off_conversation_is_stored_without_awaiting_the_AI(string kind)
    {
        var (store, _, conversation) = await ArrangeAsync(kind, ConversationStatus.PendingHuman);
        await using var _ = store;

        var accepted = Assert.IsType<MessageIntake.Accepted>(
            await Intake(store).AcceptAsync(Admin, conversation, "Hello?", "blocking", null, default));

        var stored = await Rows.MessageAsync(store.Db, accepted.Message.Id);
        Assert.Equal((null, null), (stored.ReplyState, stored.RedriveAt));
        Assert.Equal(1, stored.Sequence);
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task An_idempotency_key_replay_returns_the_same_message(string kind)
    {
        var (store, _, conversation) = await ArrangeAsync(kind);
        await using var _ = store;
        var intake = Intake(store);

        var first = Assert.IsType<MessageIntake.Accepted>(await intake.AcceptAsync(Admin, conversation, "Where is my order?", "blocking", "key-1", default));
        var replay = Assert.IsType<MessageIntake.Accepted>(await intake.AcceptAsync(Admin, conversation, "Where is my order?", "blocking", "key-1", default));

        Assert.True(replay.Replayed);
        Assert.Equal(first.Message.Id, replay.Message.Id);
        Assert.Equal(first.Message.Sequence, replay.Message.Sequence);
        Assert.Single(await Rows.MessagesAsync(store.Db, conversation));
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task Concurrent_requests_with_one_idempotency_key_store_one_message(string kind)
    {
        var (store, _, conversation) = await ArrangeAsync(kind);
        await using var _ = store;
        var intake = Intake(store);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ =>
            Task.Run(() => intake.AcceptAsync(Admin, conversation, "Where is my order?", "blocking", "key-1", default))));

        var accepted = outcomes.Select(o => Assert.IsType<MessageIntake.Accepted>(o)).ToList();
        Assert.Single(accepted.Select(a => a.Message.Id).Distinct());
        Assert.Single(accepted, a => !a.Replayed);
        Assert.Single(await Rows.MessagesAsync(store.Db, conversation));
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task The_same_key_with_different_content_is_refused(string kind)
    {
        var (store, _, conversation) = await ArrangeAsync(kind);
        await using var _ = store;
        var intake = Intake(store);
        await intake.AcceptAsync(Admin, conversation, "Where is my order?", "blocking", "key-1", default);

        Assert.IsType<MessageIntake.KeyReused>(await intake.AcceptAsync(Admin, conversation, "Cancel my order", "blocking", "key-1", default));
        Assert.IsType<MessageIntake.KeyReused>(await intake.AcceptAsync(Admin, conversation, "Where is my order?", "streaming", "key-1", default));
        Assert.Single(await Rows.MessagesAsync(store.Db, conversation));
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task An_idempotency_key_older_than_24_hours_may_be_used_again(string kind)
    {
        var (store, _, conversation) = await ArrangeAsync(kind);
        await using var _ = store;
        var intake = Intake(store);
        var first = Assert.IsType<MessageIntake.Accepted>(await intake.AcceptAsync(Admin, conversation, "Where is my order?", "blocking", "key-1", default));

        _clock.Advance(TimeSpan.FromHours(25));
        var later = Assert.IsType<MessageIntake.Accepted>(await intake.AcceptAsync(Admin, conversation, "Something else", "blocking", "key-1", default));

        Assert.False(later.Replayed);
        Assert.NotEqual(first.Message.Id, later.Message.Id);
        Assert.Equal(2, later.Message.Sequence);
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task A_closed_conversation_takes_no_messages(string kind)
    {
        var (store, _, conversation) = await ArrangeAsync(kind, ConversationStatus.Closed);
        await using var _ = store;

        Assert.IsType<MessageIntake.ConversationClosed>(await Intake(store).AcceptAsync(Admin, conversation, "Hello?", "blocking", null, default));
        Assert.Empty(await Rows.MessagesAsync(store.Db, conversation));
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task An_unknown_or_foreign_conversation_is_not_found(string kind)
    {
        var (store, bot, conversation) = await ArrangeAsync(kind);
        await using var _ = store;
        var intake = Intake(store);

        Assert.IsType<MessageIntake.NoConversation>(await intake.AcceptAsync(Admin, "conv_unknown", "Hello?", "blocking", null, default));
        Assert.IsType<MessageIntake.NoConversation>(await intake.AcceptAsync(BotKey("bot_other"), conversation, "Hello?", "blocking", null, default));
        Assert.IsType<MessageIntake.Accepted>(await intake.AcceptAsync(BotKey(bot), conversation, "Hello?", "blocking", null, default));
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task Idempotency_keys_are_per_bot(string kind)
    {
        var (store, bot, conversation) = await ArrangeAsync(kind);
        await using var _ = store;
        var otherBot = await Rows.BotAsync(store.Db);
        var otherConversation = await Rows.ConversationAsync(store.Db, otherBot);
        var intake = Intake(store);

        var mine = Assert.IsType<MessageIntake.Accepted>(await intake.AcceptAsync(BotKey(bot), conversation, "Hi", "blocking", "key-1", default));
        var theirs = Assert.IsType<MessageIntake.Accepted>(await intake.AcceptAsync(BotKey(otherBot), otherConversation, "Hi", "blocking", "key-1", default));

        Assert.False(theirs.Replayed);
        Assert.NotEqual(mine.Message.Id, theirs.Message.Id);
    }
}

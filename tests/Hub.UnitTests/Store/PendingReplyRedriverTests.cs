using Hub.AiWorker;
using Hub.AiWorker.Replies;
using Hub.Contracts;
using Hub.Core.Hosting;
using Hub.Core.Messages;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Hub.UnitTests.Store;

public class PendingReplyRedriverTests
{
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 1, 1, 9, 0, 0, TimeSpan.Zero));

    private PendingReplyRedriver Redriver(TestStore store, IBus bus) => new(
        store.Db, bus, _clock,
        Options.Create(new AiWorkerOptions { RedriveAfterSeconds = 30 }),
        Options.Create(new HubOptions()),
        NullLogger<PendingReplyRedriver>.Instance);

    private static async Task<(ServiceProvider Provider, ITestHarness Harness)> StartHarnessAsync()
    {
        var provider = new ServiceCollection().AddMassTransitTestHarness().BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        return (provider, harness);
    }

    private static List<ProduceReply> Published(ITestHarness harness) =>
        harness.Published.Select<ProduceReply>().Select(p => p.Context.Message).ToList();

    [Theory, SqliteStore, SqlServerStore]
    public async Task Due_unanswered_messages_are_published_again_and_not_twice(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);
        var (provider, harness) = await StartHarnessAsync();
        await using var _ = provider;
        var bot = await Rows.BotAsync(store.Db);
        var conversation = await Rows.ConversationAsync(store.Db, bot);
        var pending = await Rows.UserMessageAsync(store.Db, conversation, redriveAt: _clock.NowMs - 1);
        var leaseRanOut = await Rows.UserMessageAsync(store.Db, conversation, replyState: ReplyStates.Working, redriveAt: _clock.NowMs);
        await Rows.UserMessageAsync(store.Db, conversation, redriveAt: _clock.NowMs + 60_000);
        await Rows.UserMessageAsync(store.Db, conversation, replyState: ReplyStates.Answered, redriveAt: null);
        await Rows.UserMessageAsync(store.Db, conversation, replyState: ReplyStates.Failed, redriveAt: null);
        var redriver = Redriver(store, harness.Bus);

        Assert.Equal(2, await redriver.SweepAsync(everything: false, default));
        Assert.Equal(0, await redriver.SweepAsync(everything: false, default));

        Assert.Equal(
            [new ProduceReply(pending.Id, conversation, bot, false), new ProduceReply(leaseRanOut.Id, conversation, bot, false)],
            Published(harness).OrderBy(p => p.MessageId == leaseRanOut.Id));
        Assert.Equal(_clock.NowMs + 30_000, (await Rows.MessageAsync(store.Db, pending.Id)).RedriveAt);
        Assert.Equal(_clock.NowMs + 30_000, (await Rows.MessageAsync(store.Db, leaseRanOut.Id)).RedriveAt);
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task A_moved_message_is_due_again_after_the_redrive_interval(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);
        var (provider, harness) = await StartHarnessAsync();
        await using var _ = provider;
        var conversation = await Rows.ConversationAsync(store.Db, await Rows.BotAsync(store.Db));
        await Rows.UserMessageAsync(store.Db, conversation, redriveAt: _clock.NowMs);
        var redriver = Redriver(store, harness.Bus);
        await redriver.SweepAsync(everything: false, default);

        _clock.Advance(TimeSpan.FromSeconds(30));

        Assert.Equal(1, await redriver.SweepAsync(everything: false, default));
        Assert.Equal(2, Published(harness).Count);
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task At_start_up_every_unanswered_message_is_published_once(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);
        var (provider, harness) = await StartHarnessAsync();
        await using var _ = provider;
        var conversation = await Rows.ConversationAsync(store.Db, await Rows.BotAsync(store.Db));
        await Rows.UserMessageAsync(store.Db, conversation, redriveAt: _clock.NowMs + 25_000);
        await Rows.UserMessageAsync(store.Db, conversation, replyState: ReplyStates.Working, redriveAt: _clock.NowMs + 170_000);
        await Rows.UserMessageAsync(store.Db, conversation, replyState: ReplyStates.Skipped, redriveAt: null);
        var redriver = Redriver(store, harness.Bus);

        Assert.Equal(2, await redriver.SweepAsync(everything: true, default));
        Assert.Equal(0, await redriver.SweepAsync(everything: false, default));
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task Two_sweepers_at_once_publish_each_message_once(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);
        var (provider, harness) = await StartHarnessAsync();
        await using var _ = provider;
        var conversation = await Rows.ConversationAsync(store.Db, await Rows.BotAsync(store.Db));
        for (var i = 0; i < 20; i++) await Rows.UserMessageAsync(store.Db, conversation, redriveAt: _clock.NowMs - i);

        var counts = await Task.WhenAll(
            Task.Run(() => Redriver(store, harness.Bus).SweepAsync(everything: false, default)),
            Task.Run(() => Redriver(store, harness.Bus).SweepAsync(everything: false, default)));

        Assert.Equal(20, counts.Sum());
        var published = Published(harness);
        Assert.Equal(20, published.Count);
        Assert.Equal(20, published.Select(p => p.MessageId).Distinct().Count());
    }
}

using Hub.Api.Messages;
using Hub.Contracts;

namespace Hub.UnitTests.Api;

public class ReplyWaitersTests
{
    private const string UserMessage = "msg_user";
    private const string Reply = "msg_reply";

    private readonly ReplyWaiters _waiters = new();

    private void Delta(int index, string text) =>
        _waiters.Dispatch(UserMessage, w => w.OnDelta(new ReplyDeltaProduced(UserMessage, "conv_1", Reply, index, text)));

    private void Produced(int deltaCount) =>
        _waiters.Dispatch(UserMessage, w => w.OnProduced(new ReplyProduced(UserMessage, "conv_1", Reply, deltaCount)));

    private static List<ReplySignal> Drain(ReplyWaiter waiter)
    {
        var signals = new List<ReplySignal>();
        while (waiter.Signals.TryRead(out var signal)) signals.Add(signal);
        return signals;
    }

    [Fact]
    public void The_end_carries_the_stored_reply_when_the_worker_sent_it()
    {
        using var waiter = _waiters.Register(UserMessage);
        var stored = new StoredReply(2, "ab", 19, 10, 0.0095, 0.015, 1_767_258_000_000);

        Delta(1, "b");
        _waiters.Dispatch(UserMessage, w => w.OnProduced(new ReplyProduced(UserMessage, "conv_1", Reply, 2, stored)));
        Delta(0, "a");

        Assert.Equal([new ReplyDelta(Reply, "a"), new ReplyDelta(Reply, "b"), new ReplyEnded(Reply, stored)], Drain(waiter));
    }

    [Fact]
    public void Chunks_delivered_out_of_order_come_out_in_order()
    {
        using var waiter = _waiters.Register(UserMessage);

        Delta(2, "c");
        Delta(0, "a");
        Delta(3, "d");
        Delta(1, "b");

        Assert.Equal(
            [new ReplyDelta(Reply, "a"), new ReplyDelta(Reply, "b"), new ReplyDelta(Reply, "c"), new ReplyDelta(Reply, "d")],
            Drain(waiter));
    }

    [Fact]
    public void A_chunk_is_held_back_until_the_ones_before_it_arrive()
    {
        using var waiter = _waiters.Register(UserMessage);

        Delta(1, "b");

        Assert.Empty(Drain(waiter));
    }

    [Fact]
    public void The_end_is_held_until_every_announced_chunk_arrived()
    {
        using var waiter = _waiters.Register(UserMessage);

        Delta(0, "a");
        Produced(deltaCount: 3);
        Assert.Equal([new ReplyDelta(Reply, "a")], Drain(waiter));

        Delta(2, "c");
        Assert.Empty(Drain(waiter));
        Assert.False(waiter.Signals.Completion.IsCompleted);

        Delta(1, "b");
        Assert.Equal([new ReplyDelta(Reply, "b"), new ReplyDelta(Reply, "c"), new ReplyEnded(Reply)], Drain(waiter));
        Assert.True(waiter.Signals.Completion.IsCompleted);
    }

    [Fact]
    public void A_reply_without_chunks_ends_at_once()
    {
        using var waiter = _waiters.Register(UserMessage);

        Produced(deltaCount: 0);

        Assert.Equal([new ReplyEnded(Reply)], Drain(waiter));
        Assert.True(waiter.Signals.Completion.IsCompleted);
    }

    [Fact]
    public void A_duplicate_chunk_is_ignored()
    {
        using var waiter = _waiters.Register(UserMessage);

        Delta(0, "a");
        Delta(0, "a");
        Delta(2, "c");
        Delta(2, "c");
        Delta(1, "b");
        Produced(deltaCount: 3);

        Assert.Equal(
            [new ReplyDelta(Reply, "a"), new ReplyDelta(Reply, "b"), new ReplyDelta(Reply, "c"), new ReplyEnded(Reply)],
            Drain(waiter));
    }

    [Fact]
    public async Task A_chunk_that_never_arrives_does_not_hold_the_end_forever()
    {
        using var waiter = _waiters.Register(UserMessage);

        Delta(0, "a");
        Produced(deltaCount: 2);

        Assert.Equal(new ReplyEnded(Reply), await waiter.WaitForEndAsync(TimeSpan.FromSeconds(10), CancellationToken.None));
    }

    [Fact]
    public void A_failure_completes_the_wait()
    {
        using var waiter = _waiters.Register(UserMessage);

        Delta(0, "a");
        _waiters.Dispatch(UserMessage, w => w.OnFailed(new ReplyFailed(UserMessage, "conv_1", "llm_unavailable", "503 three times")));

        Assert.Equal([new ReplyDelta(Reply, "a"), new ReplyNotProduced("llm_unavailable", "503 three times")], Drain(waiter));
        Assert.True(waiter.Signals.Completion.IsCompleted);
    }

    [Fact]
    public void A_skip_completes_the_wait()
    {
        using var waiter = _waiters.Register(UserMessage);

        _waiters.Dispatch(UserMessage, w => w.OnSkipped(new ReplySkipped(UserMessage, "conv_1", "pending_human")));

        Assert.Equal([new ReplyWithheld("pending_human")], Drain(waiter));
        Assert.True(waiter.Signals.Completion.IsCompleted);
    }

    [Fact]
    public void Nothing_more_arrives_after_the_end()
    {
        using var waiter = _waiters.Register(UserMessage);

        Produced(deltaCount: 0);
        Delta(0, "late");
        _waiters.Dispatch(UserMessage, w => w.OnFailed(new ReplyFailed(UserMessage, "conv_1", "llm_error", "late")));
        waiter.Settle(new ReplyWithheld("closed"));

        Assert.Equal([new ReplyEnded(Reply)], Drain(waiter));
    }

    [Fact]
    public void Signals_for_another_message_are_not_seen()
    {
        using var waiter = _waiters.Register(UserMessage);

        _waiters.Dispatch("msg_other", w => w.OnProduced(new ReplyProduced("msg_other", "conv_1", "msg_x", 0)));

        Assert.Empty(Drain(waiter));
    }

    [Fact]
    public void Every_waiter_on_a_message_gets_the_reply()
    {
        using var first = _waiters.Register(UserMessage);
        using var second = _waiters.Register(UserMessage);

        Delta(0, "a");
        Produced(deltaCount: 1);

        Assert.Equal([new ReplyDelta(Reply, "a"), new ReplyEnded(Reply)], Drain(first));
        Assert.Equal([new ReplyDelta(Reply, "a"), new ReplyEnded(Reply)], Drain(second));
    }

    [Fact]
    public void Dispose_unregisters_the_waiter()
    {
        var first = _waiters.Register(UserMessage);
        using var second = _waiters.Register("msg_other");
        Assert.Equal(2, _waiters.Count);

        first.Dispose();
        Produced(deltaCount: 0);

        Assert.Equal(1, _waiters.Count);
        Assert.Empty(Drain(first));
    }

    [Fact]
    public void Disposing_one_waiter_leaves_the_others_on_the_same_message()
    {
        var first = _waiters.Register(UserMessage);
        using var second = _waiters.Register(UserMessage);

        first.Dispose();
        Produced(deltaCount: 0);

        Assert.Equal(1, _waiters.Count);
        Assert.Equal([new ReplyEnded(Reply)], Drain(second));
    }

    [Fact]
    public async Task Waiting_for_the_end_skips_chunks()
    {
        using var waiter = _waiters.Register(UserMessage);

        Delta(0, "a");
        Delta(1, "b");
        Produced(deltaCount: 2);

        Assert.Equal(new ReplyEnded(Reply), await waiter.WaitForEndAsync(TimeSpan.FromSeconds(5), CancellationToken.None));
    }

    [Fact]
    public async Task Waiting_for_the_end_gives_null_when_the_timeout_passes_first()
    {
        using var waiter = _waiters.Register(UserMessage);

        Delta(0, "a");

        Assert.Null(await waiter.WaitForEndAsync(TimeSpan.FromMilliseconds(50), CancellationToken.None));
    }

    [Fact]
    public async Task Waiting_for_the_end_ends_with_the_callers_cancellation()
    {
        using var waiter = _waiters.Register(UserMessage);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiter.WaitForEndAsync(TimeSpan.FromSeconds(10), cts.Token));
    }
}

using System.Threading.Channels;
using Hub.Contracts;
using MassTransit;

namespace Hub.Api.Messages;

public abstract record ReplySignal;
public sealed record ReplyDelta(string ReplyMessageId, string Text) : ReplySignal;
/// <param name="Reply">The reply as the worker stored it, when the event carried it; otherwise read it from the store.</param>
public sealed record ReplyEnded(string ReplyMessageId, StoredReply? Reply = null) : ReplySignal;
public sealed record ReplyNotProduced(string Code, string Detail) : ReplySignal;
public sealed record ReplyWithheld(string ConversationStatus) : ReplySignal;

/// <summary>
/// The callers of this API process that wait on a reply (blocking or streaming), by user message ID.
/// Replies reach them from the bus through <see cref="ReplyRelay"/>, whichever worker produced them.
/// </summary>
public sealed class ReplyWaiters
{
    private readonly Dictionary<string, List<ReplyWaiter>> _byMessage = new();
    private readonly Lock _gate = new();

    /// <summary>Register before publishing the command, so that no reply can arrive unseen.</summary>
    public ReplyWaiter Register(string messageId)
    {
        var waiter = new ReplyWaiter(this, messageId);
        lock (_gate)
        {
            if (!_byMessage.TryGetValue(messageId, out var list)) _byMessage[messageId] = list = [];
            list.Add(waiter);
        }
        return waiter;
    }

    internal void Remove(ReplyWaiter waiter)
    {
        lock (_gate)
        {
            if (_byMessage.TryGetValue(waiter.MessageId, out var list) && list.Remove(waiter) && list.Count == 0)
                _byMessage.Remove(waiter.MessageId);
        }
    }

    public int Count { get { lock (_gate) return _byMessage.Count; } }

    /// <summary>Hands one reply event, however it arrived (bus or Redis), to the callers waiting on it here.</summary>
    public void Deliver(object replyEvent)
    {
        switch (replyEvent)
        {
            case ReplyDeltaProduced delta: Dispatch(delta.ReplyToMessageId, w => w.OnDelta(delta)); break;
            case ReplyProduced produced: Dispatch(produced.ReplyToMessageId, w => w.OnProduced(produced)); break;
            case ReplyFailed failed: Dispatch(failed.ReplyToMessageId, w => w.OnFailed(failed)); break;
            case ReplySkipped skipped: Dispatch(skipped.ReplyToMessageId, w => w.OnSkipped(skipped)); break;
        }
    }

    internal void Dispatch(string messageId, Action<ReplyWaiter> action)
    {
        ReplyWaiter[] targets;
        lock (_gate)
        {
            if (!_byMessage.TryGetValue(messageId, out var list)) return;
            targets = [.. list];
        }
        foreach (var waiter in targets) action(waiter);
    }
}

/// <summary>
/// One caller's view of one reply. Chunks can arrive out of order when the transport consumes
/// concurrently, so they are put back in order by index, and the end is held until every chunk the
/// worker announced has been passed on (or a short grace period has passed).
/// </summary>
public sealed class ReplyWaiter : IDisposable
{
    private static readonly TimeSpan MissingChunkGrace = TimeSpan.FromSeconds(2);
    private readonly ReplyWaiters _owner;
    private readonly Channel<ReplySignal> _channel = Channel.CreateUnbounded<ReplySignal>(new() { SingleReader = true });
    private readonly SortedDictionary<int, ReplyDeltaProduced> _early = new();
    private readonly Lock _gate = new();
    private int _next;
    private ReplyProduced? _end;
    private bool _done;

    internal ReplyWaiter(ReplyWaiters owner, string messageId) => (_owner, MessageId) = (owner, messageId);

    public string MessageId { get; }
    public ChannelReader<ReplySignal> Signals => _channel.Reader;

    internal void OnDelta(ReplyDeltaProduced delta)
    {
        lock (_gate)
        {
            if (_done || delta.Index < _next) return;
            _early[delta.Index] = delta;
            while (_early.Remove(_next, out var inOrder))
            {
                _channel.Writer.TryWrite(new ReplyDelta(inOrder.ReplyMessageId, inOrder.Delta));
                _next++;
            }
            if (_end is { } end && _next >= end.DeltaCount) Finish(new ReplyEnded(end.ReplyMessageId, end.Reply));
        }
    }

    internal void OnProduced(ReplyProduced produced)
    {
        lock (_gate)
        {
            if (_done) return;
            _end = produced;
            if (_next >= produced.DeltaCount)
            {
                Finish(new ReplyEnded(produced.ReplyMessageId, produced.Reply));
                return;
            }
        }
        _ = Task.Delay(MissingChunkGrace).ContinueWith(_ =>
        {
            lock (_gate) if (!_done) Finish(new ReplyEnded(produced.ReplyMessageId, produced.Reply));
        }, TaskScheduler.Default);
    }

    internal void OnFailed(ReplyFailed failed)
    {
        lock (_gate) if (!_done) Finish(new ReplyNotProduced(failed.Code, failed.Detail));
    }

    internal void OnSkipped(ReplySkipped skipped)
    {
        lock (_gate) if (!_done) Finish(new ReplyWithheld(skipped.Status));
    }

    /// <summary>Ends the wait from stored state (an idempotent replay of a message already settled).</summary>
    public void Settle(ReplySignal signal)
    {
        lock (_gate) if (!_done) Finish(signal);
    }

    private void Finish(ReplySignal signal)
    {
        _done = true;
        _channel.Writer.TryWrite(signal);
        _channel.Writer.TryComplete();
    }

    public void Dispose() => _owner.Remove(this);
}

/// <summary>Hands reply events from the bus to this process's waiters (one temporary queue per API process).</summary>
public sealed class ReplyRelay(ReplyWaiters waiters) :
    IConsumer<ReplyDeltaProduced>, IConsumer<ReplyProduced>, IConsumer<ReplyFailed>, IConsumer<ReplySkipped>
{
    public Task Consume(ConsumeContext<ReplyDeltaProduced> context) => Deliver(context.Message);
    public Task Consume(ConsumeContext<ReplyProduced> context) => Deliver(context.Message);
    public Task Consume(ConsumeContext<ReplyFailed> context) => Deliver(context.Message);
    public Task Consume(ConsumeContext<ReplySkipped> context) => Deliver(context.Message);

    private Task Deliver(object replyEvent)
    {
        waiters.Deliver(replyEvent);
        return Task.CompletedTask;
    }
}

public static class ReplyWaiterExtensions
{
    /// <summary>
    /// Waits for the end of the reply: <see cref="ReplyEnded"/>, <see cref="ReplyNotProduced"/> or
    /// <see cref="ReplyWithheld"/>; null when <paramref name="timeout"/> passes first. Chunks are skipped.
    /// </summary>
    public static async Task<ReplySignal?> WaitForEndAsync(this ReplyWaiter waiter, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            await foreach (var signal in waiter.Signals.ReadAllAsync(cts.Token))
                if (signal is not ReplyDelta) return signal;
            return null;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return null;
        }
    }
}

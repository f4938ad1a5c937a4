namespace Hub.Dispatcher.Delivery;

/// <summary>
/// Wakes the scheduler: a new event was committed, or a try finished and freed a slot. Any number of
/// notifications before the scheduler looks count as one. One waiter (the scheduler's loop), any number of
/// notifiers.
/// </summary>
/// <remarks>
/// Invariant: the semaphore is released once per 0→1 change of <c>_pending</c> (only Notify makes it), and only
/// the waiter sets <c>_pending</c> back to 0, after it has taken that release. So while <c>_pending</c> is 1 no
/// Notify releases, and the semaphore never holds more than one. A wait that timed out and then finds
/// <c>_pending</c> at 1 has raced a Notify whose release is certain (it may not have happened yet): it takes that
/// release before resetting. Resetting without taking it, as this did before, left the release behind with
/// <c>_pending</c> at 0, and the next Notify's release overflowed the semaphore (SemaphoreFullException).
/// </remarks>
public sealed class DueSignal
{
    private readonly SemaphoreSlim _wake = new(0, 1);
    private int _pending;

    public void Notify()
    {
        if (Interlocked.Exchange(ref _pending, 1) == 0) _wake.Release();
    }

    /// <summary>Waits for a notification or <paramref name="timeout"/>; what is notified after this returns wakes the next wait.</summary>
    public async Task WaitAsync(TimeSpan timeout, CancellationToken ct)
    {
        if (!await _wake.WaitAsync(timeout, ct))
        {
            // Nothing notified: leave _pending alone, a Notify landing now wakes the next wait.
            if (Volatile.Read(ref _pending) == 0) return;
            // Notified just after the timeout: its release is at most a few instructions away. Taken regardless of
            // cancellation, so the invariant holds even while stopping.
            await _wake.WaitAsync(CancellationToken.None);
        }
        Volatile.Write(ref _pending, 0);
    }
}

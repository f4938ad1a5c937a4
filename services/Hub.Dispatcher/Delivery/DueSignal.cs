namespace Hub.Dispatcher.Delivery;

/// <summary>
/// Wakes the scheduler: a new event was committed, or a try finished and freed a slot. Any number of
/// notifications before the scheduler looks count as one.
/// </summary>
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
        await _wake.WaitAsync(timeout, ct);
        Volatile.Write(ref _pending, 0);
    }
}

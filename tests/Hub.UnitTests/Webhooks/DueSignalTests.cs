using Hub.Dispatcher.Delivery;
using Xunit.Abstractions;

namespace Hub.UnitTests.Webhooks;

public class DueSignalTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_notify_racing_a_timed_out_wait_never_breaks_the_next_notify()
    {
        // The scheduler waits with a timeout while finishing tries notify from other threads. A zero timeout
        // makes every wait a timed-out one, so the window between the timeout and the wait's bookkeeping is hit
        // as often as the machine allows.
        var signal = new DueSignal();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        Exception? failure = null;
        long notifies = 0;
        var notifiers = Enumerable.Range(0, 2).Select(_ => Task.Factory.StartNew(() =>
        {
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    signal.Notify();
                    Interlocked.Increment(ref notifies);
                }
            }
            catch (Exception e)
            {
                failure = e;
                stop.Cancel();
            }
        }, TaskCreationOptions.LongRunning)).ToArray();

        long waits = 0;
        while (!stop.IsCancellationRequested)
        {
            await signal.WaitAsync(TimeSpan.Zero, CancellationToken.None);
            waits++;
        }
        await Task.WhenAll(notifiers);
        output.WriteLine($"{waits} waits, {Interlocked.Read(ref notifies)} notifies in 3 s");

        Assert.True(failure is null, $"after {waits} waits and {Interlocked.Read(ref notifies)} notifies: {failure}");
        Assert.True(waits > 1_000, $"only {waits} waits ran");
    }

    [Fact]
    public async Task A_notification_before_the_wait_wakes_it_at_once_and_many_count_as_one()
    {
        var signal = new DueSignal();
        signal.Notify();
        signal.Notify();
        signal.Notify();

        var woke = Task.Run(() => signal.WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None));
        Assert.Same(woke, await Task.WhenAny(woke, Task.Delay(TimeSpan.FromSeconds(10))));

        // The three notifications were one: the next wait sits out its timeout.
        var started = TimeProvider.System.GetTimestamp();
        await signal.WaitAsync(TimeSpan.FromMilliseconds(200), CancellationToken.None);
        Assert.True(TimeProvider.System.GetElapsedTime(started) >= TimeSpan.FromMilliseconds(150));
    }

    [Fact]
    public async Task A_notification_during_the_wait_wakes_it()
    {
        var signal = new DueSignal();
        var waiting = signal.WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);

        signal.Notify();

        Assert.Same(waiting, await Task.WhenAny(waiting, Task.Delay(TimeSpan.FromSeconds(10))));
    }

    [Fact]
    public async Task A_notification_after_a_timed_out_wait_wakes_the_next_wait()
    {
        var signal = new DueSignal();
        await signal.WaitAsync(TimeSpan.FromMilliseconds(10), CancellationToken.None);
        signal.Notify();

        var next = signal.WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);

        Assert.Same(next, await Task.WhenAny(next, Task.Delay(TimeSpan.FromSeconds(10))));
    }
}

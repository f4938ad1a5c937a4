using Hub.Core.Bots;
using Hub.Dispatcher.Delivery;

namespace Hub.UnitTests.Webhooks;

public class EndpointLanesTests
{
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(4);
    private readonly TickClock _clock = new();

    private EndpointLanes Lanes(int slots = 64, int endpointSlots = 2, int prefetch = 4) =>
        new(slots, endpointSlots, prefetch, MaxWait, _clock);

    private static int _next;
    private static DeliveryWork Work(string bot) =>
        new(new DeliveryRecord { Id = $"evt_{Interlocked.Increment(ref _next)}", BotId = bot }, new BotRecord { Id = bot });

    private static List<DeliveryWork> Works(string bot, int n) => Enumerable.Range(0, n).Select(_ => Work(bot)).ToList();

    [Fact]
    public void A_lane_sends_at_most_its_concurrency_and_a_finished_try_starts_the_next()
    {
        var lanes = Lanes(endpointSlots: 2);
        var claimed = Works("bot_a", 5);

        var first = lanes.Add(claimed);

        Assert.Equal(claimed.Take(2), first.Send);
        Assert.Equal((2, 5), (lanes.Sending, lanes.Held));
        var next = lanes.Finish(claimed[0], fast: true);
        Assert.Equal([claimed[2]], next.Send);
        Assert.Equal((2, 4), (lanes.Sending, lanes.Held));
    }

    [Fact]
    public void The_process_limit_holds_across_lanes_and_a_freed_slot_goes_to_another_lanes_waiting_delivery()
    {
        var lanes = Lanes(slots: 3, endpointSlots: 2);
        var a = Works("bot_a", 2);
        var b = Works("bot_b", 2);

        var started = lanes.Add([.. a, .. b]).Send;

        Assert.Equal(3, started.Count);
        Assert.Equal(3, lanes.Sending);
        var waiting = b.Single(w => !started.Contains(w));
        // bot_a has nothing left to send, so its freed slot goes to bot_b's waiting delivery.
        Assert.Equal([waiting], lanes.Finish(a[0], fast: true).Send);
    }

    [Fact]
    public void A_new_or_slow_endpoint_gets_room_for_what_it_sends_and_a_fast_one_for_prefetch_times_that()
    {
        var lanes = Lanes(endpointSlots: 2, prefetch: 4);
        Assert.Equal(2, lanes.RoomFor("bot_new"));

        var claimed = Works("bot_a", 2);
        lanes.Add(claimed);
        Assert.Equal(0, lanes.RoomFor("bot_a"));
        Assert.Contains("bot_a", lanes.Full());

        lanes.Finish(claimed[0], fast: true);
        Assert.Equal(2 * 4 - 1, lanes.RoomFor("bot_a"));
        lanes.Finish(claimed[1], fast: false);
        Assert.Equal(2, lanes.RoomFor("bot_a"));
        Assert.DoesNotContain("bot_a", lanes.Full());
    }

    [Fact]
    public void A_delivery_that_waited_longer_than_its_claim_allows_is_given_back_not_sent()
    {
        var lanes = Lanes(endpointSlots: 1);
        var claimed = Works("bot_a", 3);
        lanes.Add(claimed);

        _clock.Advance(MaxWait + TimeSpan.FromMilliseconds(1));
        var next = lanes.Finish(claimed[0], fast: false);

        Assert.Empty(next.Send);
        Assert.Equal([claimed[1].Delivery.Id, claimed[2].Delivery.Id], next.GiveBack);
        Assert.Equal((0, 0), (lanes.Sending, lanes.Held));
    }

    [Fact]
    public void Stopping_takes_every_waiting_delivery_and_leaves_those_being_sent()
    {
        var lanes = Lanes(endpointSlots: 1);
        var claimed = Works("bot_a", 3);
        lanes.Add(claimed);

        var waiting = lanes.TakeAllWaiting();

        Assert.Equal([claimed[1].Delivery.Id, claimed[2].Delivery.Id], waiting);
        Assert.Equal((1, 1), (lanes.Sending, lanes.Held));
        Assert.Empty(lanes.Finish(claimed[0], fast: true).Send);
        Assert.Equal(0, lanes.Held);
    }

    [Fact]
    public void Lanes_of_endpoints_idle_for_a_while_are_dropped_so_many_endpoints_do_not_grow_memory()
    {
        var lanes = Lanes(endpointSlots: 2);
        for (var i = 0; i < 1_000; i++)
        {
            var work = Work($"bot_{i}");
            lanes.Add([work]);
            lanes.Finish(work, fast: true);
        }
        var busy = Works("bot_busy", 2);
        lanes.Add(busy);
        Assert.Equal(1_001, lanes.LaneCount);

        _clock.Advance(EndpointLanes.DefaultIdleAfter);
        lanes.Finish(busy[0], fast: true);

        // Only the lane still sending is left, and its try still finishes.
        Assert.Equal(1, lanes.LaneCount);
        Assert.Equal((1, 1), (lanes.Sending, lanes.Held));
        lanes.Finish(busy[1], fast: true);
        Assert.Equal((0, 0), (lanes.Sending, lanes.Held));
    }

    [Fact]
    public void A_lane_used_within_the_idle_period_is_kept_and_a_dropped_endpoint_starts_again_as_new()
    {
        var lanes = Lanes(endpointSlots: 2, prefetch: 4);
        var a = Work("bot_a");
        lanes.Add([a]);
        lanes.Finish(a, fast: true);
        Assert.Equal(2 * 4, lanes.RoomFor("bot_a"));

        _clock.Advance(EndpointLanes.DefaultIdleAfter / 2);
        var b = Work("bot_b");
        lanes.Add([b]);
        lanes.Finish(b, fast: true);
        _clock.Advance(EndpointLanes.DefaultIdleAfter / 2);
        lanes.Add(Works("bot_c", 1));

        // bot_a sat idle a whole period and is gone; bot_b was used half a period ago and stays.
        Assert.Equal(2, lanes.RoomFor("bot_a"));
        Assert.Equal(2 * 4, lanes.RoomFor("bot_b"));
        Assert.Equal(2, lanes.LaneCount);
    }

    /// <summary>Timestamps the test moves by hand (the lanes time waits with <see cref="TimeProvider.GetTimestamp"/>).</summary>
    private sealed class TickClock : TimeProvider
    {
        private long _ticks;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => _ticks;
        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}

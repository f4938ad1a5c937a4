namespace Hub.Dispatcher.Delivery;

/// <summary>
/// The dispatcher's claimed deliveries, one lane per endpoint, and which of them may be sent now: at most
/// <c>endpointSlots</c> at once per lane and <c>slots</c> in the process. A lane whose endpoint last answered
/// quickly may hold <c>prefetch</c> times its concurrency (the extra waiting, claimed, ready to go); any other
/// holds only what it sends. Bookkeeping only, under one lock: no I/O, so it is cheap to call from every
/// finishing try. A lane that has held nothing for <c>idleAfter</c> (default <see cref="DefaultIdleAfter"/>) is
/// dropped, so memory follows the endpoints in use, not every endpoint ever served; all it forgets is whether
/// its endpoint was fast, which the next quick answer teaches it again.
/// </summary>
public sealed class EndpointLanes(int slots, int endpointSlots, int prefetch, TimeSpan maxWait, TimeProvider clock, TimeSpan? idleAfter = null)
{
    public static readonly TimeSpan DefaultIdleAfter = TimeSpan.FromMinutes(2);

    private readonly Dictionary<string, Lane> _lanes = new();
    private readonly Lock _lock = new();
    private readonly TimeSpan _idleAfter = idleAfter ?? DefaultIdleAfter;
    private long _lastSweep = clock.GetTimestamp();
    private int _sending;
    private int _held;

    private sealed class Lane
    {
        public readonly Queue<(DeliveryWork Work, long ClaimedAt)> Waiting = new();
        public int Sending;
        /// <summary>Until its endpoint has answered once quickly, a lane holds no more than it sends.</summary>
        public bool Fast;
        /// <summary>When a delivery last came in or finished.</summary>
        public long LastUsed;
        public int Held => Sending + Waiting.Count;
    }

    /// <summary>What to do next: deliveries to send now, and deliveries to give back (they waited too long).</summary>
    public sealed record Next(List<DeliveryWork> Send, List<string> GiveBack);

    /// <summary>Claimed deliveries held, waiting or being sent.</summary>
    public int Held => Volatile.Read(ref _held);

    public int Sending => Volatile.Read(ref _sending);

    /// <summary>Lanes kept, idle ones not yet dropped included.</summary>
    public int LaneCount
    {
        get { lock (_lock) return _lanes.Count; }
    }

    /// <summary>The most deliveries all lanes together may hold.</summary>
    public int Capacity => slots * prefetch;

    /// <summary>How many more deliveries the endpoint's lane may take.</summary>
    public int RoomFor(string botId)
    {
        lock (_lock) return _lanes.TryGetValue(botId, out var lane) ? Room(lane) : endpointSlots;
    }

    /// <summary>Endpoints whose lanes have no room: the claim leaves their deliveries in the store.</summary>
    public List<string> Full()
    {
        lock (_lock) return _lanes.Where(l => Room(l.Value) <= 0).Select(l => l.Key).ToList();
    }

    /// <summary>Puts freshly claimed deliveries in their lanes.</summary>
    public Next Add(IEnumerable<DeliveryWork> claimed)
    {
        var now = clock.GetTimestamp();
        lock (_lock)
        {
            foreach (var work in claimed)
            {
                if (!_lanes.TryGetValue(work.Bot.Id, out var lane)) _lanes[work.Bot.Id] = lane = new Lane();
                lane.Waiting.Enqueue((work, now));
                lane.LastUsed = now;
                _held++;
            }
            DropIdleLanes(now);
            return Take(null);
        }
    }

    /// <summary>A try finished; <paramref name="fast"/> says whether its endpoint answered quickly.</summary>
    public Next Finish(DeliveryWork work, bool fast)
    {
        lock (_lock)
        {
            var lane = _lanes[work.Bot.Id];
            var now = clock.GetTimestamp();
            lane.Sending--;
            lane.Fast = fast;
            lane.LastUsed = now;
            _sending--;
            _held--;
            DropIdleLanes(now);
            return Take(lane);
        }
    }

    /// <summary>Empties every lane of what waits unsent (the dispatcher is stopping); returns their IDs.</summary>
    public List<string> TakeAllWaiting()
    {
        lock (_lock)
        {
            var waiting = _lanes.Values.SelectMany(l => l.Waiting.Select(w => w.Work.Delivery.Id)).ToList();
            foreach (var lane in _lanes.Values) lane.Waiting.Clear();
            _held -= waiting.Count;
            return waiting;
        }
    }

    /// <summary>At most once per idle period, forgets the lanes that held nothing all that time.</summary>
    private void DropIdleLanes(long now)
    {
        if (clock.GetElapsedTime(_lastSweep, now) < _idleAfter) return;
        _lastSweep = now;
        // Removing while enumerating is allowed for Dictionary since .NET Core 3.0.
        foreach (var (botId, lane) in _lanes)
            if (lane.Held == 0 && clock.GetElapsedTime(lane.LastUsed, now) >= _idleAfter) _lanes.Remove(botId);
    }

    private int Room(Lane lane) => endpointSlots * (lane.Fast ? prefetch : 1) - lane.Held;

    /// <summary>Moves waiting deliveries to sending while there is room, <paramref name="first"/>'s lane first.</summary>
    private Next Take(Lane? first)
    {
        var next = new Next([], []);
        var now = clock.GetTimestamp();
        if (first is not null) TakeFrom(first, next, now);
        foreach (var lane in _lanes.Values)
        {
            if (_sending >= slots) break;
            if (lane != first) TakeFrom(lane, next, now);
        }
        return next;
    }

    private void TakeFrom(Lane lane, Next next, long now)
    {
        while (_sending < slots && lane.Sending < endpointSlots && lane.Waiting.TryDequeue(out var waiting))
        {
            // Sent later, the try might outlive its claim, and another dispatcher could send it too.
            if (clock.GetElapsedTime(waiting.ClaimedAt, now) > maxWait)
            {
                _held--;
                next.GiveBack.Add(waiting.Work.Delivery.Id);
                continue;
            }
            lane.Sending++;
            _sending++;
            next.Send.Add(waiting.Work);
        }
    }
}

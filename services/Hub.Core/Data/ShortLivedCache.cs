using System.Collections.Concurrent;

namespace Hub.Core.Data;

/// <summary>
/// Rows that nearly every request reads and that change rarely (bot keys, bots), kept for a few seconds.
/// Only found rows are kept. A change made in this process evicts at once (<see cref="Remove"/>,
/// <see cref="Clear"/>); a change made by another process is seen when the entry expires, so the TTL is
/// the longest that another process may act on the old row.
/// </summary>
public sealed class ShortLivedCache<TKey, TValue>(TimeSpan ttl, int capacity = 10_000) where TKey : notnull where TValue : class
{
    private readonly ConcurrentDictionary<TKey, Entry> _entries = new();
    private readonly long _ttlMs = (long)ttl.TotalMilliseconds;
    // Bumped by every eviction, so that a load that read the row before the change cannot put it back after.
    private long _generation;

    private sealed record Entry(TValue Value, long ExpiresAt);

    public async Task<TValue?> GetOrLoadAsync<TState>(TKey key, TState state, Func<TKey, TState, Task<TValue?>> load)
    {
        var now = Environment.TickCount64;
        if (_entries.TryGetValue(key, out var entry) && entry.ExpiresAt > now) return entry.Value;

        var generation = Volatile.Read(ref _generation);
        var value = await load(key, state);
        if (value is null || _ttlMs <= 0) return value;

        if (_entries.Count >= capacity) _entries.Clear();
        var stored = new Entry(value, now + _ttlMs);
        _entries[key] = stored;
        // An eviction ran while the row was being read: what was read may be the old row.
        if (Volatile.Read(ref _generation) != generation) _entries.TryRemove(new KeyValuePair<TKey, Entry>(key, stored));
        return value;
    }

    public void Remove(TKey key)
    {
        Interlocked.Increment(ref _generation);
        _entries.TryRemove(key, out _);
    }

    public void Clear()
    {
        Interlocked.Increment(ref _generation);
        _entries.Clear();
    }
}

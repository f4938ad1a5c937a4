using Microsoft.Extensions.Caching.Memory;

namespace Hub.Core.Data;

/// <summary>
/// Rows that nearly every request reads and that change rarely (bot keys, bots), kept for a few seconds in a
/// <see cref="MemoryCache"/> of bounded size. Only found rows are kept. A change made in this process evicts at
/// once (<see cref="Remove"/>, <see cref="Clear"/>); other processes hear of it through
/// <see cref="Redis.ICacheEvictions"/> with Redis, or see it when the entry expires, so the TTL is the longest
/// that another process may act on the old row.
/// </summary>
public sealed class ShortLivedCache<TKey, TValue> : IDisposable where TKey : notnull where TValue : class
{
    private readonly MemoryCache _entries;
    private readonly TimeSpan _ttl;
    // Bumped by every eviction, so that a load that read the row before the change cannot put it back after.
    private long _generation;

    public ShortLivedCache(TimeSpan ttl, int capacity = 10_000)
    {
        _ttl = ttl;
        // Each entry counts 1: at capacity a new row is not kept (and the oldest are compacted away), never an OOM.
        _entries = new MemoryCache(new MemoryCacheOptions { SizeLimit = capacity, CompactionPercentage = 0.25 });
    }

    public Task<TValue?> GetOrLoadAsync<TState>(TKey key, TState state, Func<TKey, TState, Task<TValue?>> load) =>
        _entries.TryGetValue(key, out var value) ? Task.FromResult((TValue?)value) : LoadAsync(key, state, load);

    private async Task<TValue?> LoadAsync<TState>(TKey key, TState state, Func<TKey, TState, Task<TValue?>> load)
    {
        var generation = Volatile.Read(ref _generation);
        var value = await load(key, state);
        if (value is null || _ttl <= TimeSpan.Zero) return value;

        using (var entry = _entries.CreateEntry(key))
        {
            entry.Value = value;
            entry.Size = 1;
            entry.AbsoluteExpirationRelativeToNow = _ttl;
        }
        // An eviction ran while the row was being read: what was read may be the old row.
        if (Volatile.Read(ref _generation) != generation) _entries.Remove(key);
        return value;
    }

    public void Remove(TKey key)
    {
        Interlocked.Increment(ref _generation);
        _entries.Remove(key);
    }

    public void Clear()
    {
        Interlocked.Increment(ref _generation);
        _entries.Clear();
    }

    public void Dispose() => _entries.Dispose();
}

using Dapper;
using Hub.Core.Bots;
using Hub.Core.Data;
using Hub.Core.Hosting;
using Hub.Core.Redis;
using Hub.UnitTests.Store;
using Microsoft.Extensions.Options;

namespace Hub.UnitTests.Core;

public class ShortLivedCacheTests
{
    private sealed record Row(string Value);

    [Fact]
    public async Task A_found_row_is_read_once_until_it_is_removed()
    {
        var cache = new ShortLivedCache<string, Row>(TimeSpan.FromMinutes(1));
        var reads = 0;
        Task<Row?> Load(string key, int _) { reads++; return Task.FromResult<Row?>(new Row(key + reads)); }

        var first = await cache.GetOrLoadAsync("a", 0, Load);
        var second = await cache.GetOrLoadAsync("a", 0, Load);
        cache.Remove("a");
        var third = await cache.GetOrLoadAsync("a", 0, Load);

        Assert.Equal("a1", first!.Value);
        Assert.Same(first, second);
        Assert.Equal("a2", third!.Value);
    }

    [Fact]
    public async Task A_missing_row_is_not_kept()
    {
        var cache = new ShortLivedCache<string, Row>(TimeSpan.FromMinutes(1));
        var reads = 0;

        await cache.GetOrLoadAsync("a", 0, (_, _) => { reads++; return Task.FromResult<Row?>(null); });
        await cache.GetOrLoadAsync("a", 0, (_, _) => { reads++; return Task.FromResult<Row?>(null); });

        Assert.Equal(2, reads);
    }

    [Fact]
    public async Task A_row_read_before_an_eviction_is_not_kept_after_it()
    {
        var cache = new ShortLivedCache<string, Row>(TimeSpan.FromMinutes(1));
        var reading = new TaskCompletionSource();
        var release = new TaskCompletionSource();

        var stale = cache.GetOrLoadAsync("a", 0, async (_, _) =>
        {
            reading.SetResult();
            await release.Task;
            return new Row("old");
        });
        await reading.Task;
        cache.Clear(); // the row changed while it was being read
        release.SetResult();
        Assert.Equal("old", (await stale)!.Value);

        var next = await cache.GetOrLoadAsync("a", 0, (_, _) => Task.FromResult<Row?>(new Row("new")));
        Assert.Equal("new", next!.Value);
    }

    [Fact]
    public async Task A_zero_ttl_keeps_nothing()
    {
        var cache = new ShortLivedCache<string, Row>(TimeSpan.Zero);
        var reads = 0;
        Task<Row?> Load(string key, int _) { reads++; return Task.FromResult<Row?>(new Row(key)); }

        await cache.GetOrLoadAsync("a", 0, Load);
        await cache.GetOrLoadAsync("a", 0, Load);

        Assert.Equal(2, reads);
    }
}

public class BotCacheEvictionTests
{
    /// <summary>Stands in for Redis pub/sub: what one process announces, every subscribed process hears.</summary>
    private sealed class SharedChannel : ICacheEvictions
    {
        private readonly List<(string Cache, Action<string?> Evict)> _subscribers = [];
        public List<(string Cache, string? Key)> Announced { get; } = [];
        public void Subscribe(string cache, Action<string?> evict) => _subscribers.Add((cache, evict));
        public void Announce(string cache, string? key)
        {
            Announced.Add((cache, key));
            foreach (var s in _subscribers.Where(s => s.Cache == cache)) s.Evict(key);
        }
    }

    private static BotCache Process(ICacheEvictions evictions) =>
        new(Options.Create(new HubOptions { CacheSeconds = 600 }), evictions);

    [Fact]
    public async Task A_bot_changed_through_one_process_is_read_again_at_once_by_another()
    {
        await using var store = await TestStore.CreateAsync(TestStore.Sqlite);
        var botId = await Rows.BotAsync(store.Db);
        var redis = new SharedChannel();
        var (here, there) = (Process(redis), Process(redis));
        Assert.Equal("Support", (await there.GetAsync(store.Db, botId, default))!.Name); // cached there for 10 minutes

        await using (var c = await store.Db.OpenAsync())
            await c.ExecuteAsync("UPDATE bots SET name = 'Sales' WHERE id = @botId", new { botId });
        here.Evict(botId);

        Assert.Equal([("bots", (string?)botId)], redis.Announced);
        Assert.Equal("Sales", (await there.GetAsync(store.Db, botId, default))!.Name);
    }

    [Fact]
    public async Task Without_redis_another_process_keeps_its_copy_until_it_expires()
    {
        await using var store = await TestStore.CreateAsync(TestStore.Sqlite);
        var botId = await Rows.BotAsync(store.Db);
        var (here, there) = (Process(new LocalCacheEvictions()), Process(new LocalCacheEvictions()));
        await there.GetAsync(store.Db, botId, default);

        await using (var c = await store.Db.OpenAsync())
            await c.ExecuteAsync("UPDATE bots SET name = 'Sales' WHERE id = @botId", new { botId });
        here.Evict(botId);

        Assert.Equal("Support", (await there.GetAsync(store.Db, botId, default))!.Name); // HUB_CACHE_SECONDS is the bound
        Assert.Equal("Sales", (await here.GetAsync(store.Db, botId, default))!.Name);
    }
}

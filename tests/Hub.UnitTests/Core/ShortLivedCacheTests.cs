using Hub.Core.Data;

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

using Dapper;
using Hub.Core.Data;
using Hub.Core.Hosting;
using Hub.Dispatcher.Delivery;

namespace Hub.UnitTests.Store;

/// <summary>The dispatcher's batched SQL: one transaction claims what there is room for, one stores a batch of tries.</summary>
public class DeliveryStoreTests
{
    private static readonly TimeSpan ClaimFor = TimeSpan.FromSeconds(35);
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 1, 1, 9, 0, 0, TimeSpan.Zero));

    private static Func<string, int> RoomOf(int perEndpoint) => _ => perEndpoint;

    [Theory, SqliteStore, SqlServerStore]
    public async Task Due_deliveries_are_claimed_oldest_first_up_to_the_limit(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);
        var bot = await WebhookBotAsync(store.Db);
        var ids = new List<string>();
        for (var i = 0; i < 5; i++) ids.Add(await DeliveryAsync(store.Db, bot, dueAt: _clock.NowMs - 5_000 + i));
        var deliveries = new DeliveryStore(store.Db, _clock);

        var claimed = await deliveries.ClaimDueAsync(3, RoomOf(10), [], ClaimFor, default);

        Assert.Equal(ids.Take(3), claimed.Select(w => w.Delivery.Id));
        Assert.All(claimed, w => Assert.Equal(bot, w.Bot.Id));
        Assert.All(claimed, w => Assert.Equal("{\"n\":1}", w.Delivery.Payload));
        foreach (var id in ids.Take(3))
            Assert.Equal(_clock.NowMs + (long)ClaimFor.TotalMilliseconds, (await RowAsync(store.Db, id)).LockedUntil);
        Assert.Null((await RowAsync(store.Db, ids[3])).LockedUntil);
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task A_claimed_delivery_is_not_claimed_again_until_its_claim_runs_out(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);
        var bot = await WebhookBotAsync(store.Db);
        var id = await DeliveryAsync(store.Db, bot, dueAt: _clock.NowMs);
        var deliveries = new DeliveryStore(store.Db, _clock);
        Assert.Single(await deliveries.ClaimDueAsync(10, RoomOf(10), [], ClaimFor, default));

        _clock.Advance(ClaimFor - TimeSpan.FromSeconds(1));
        Assert.Empty(await deliveries.ClaimDueAsync(10, RoomOf(10), [], ClaimFor, default));

        _clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(id, Assert.Single(await deliveries.ClaimDueAsync(10, RoomOf(10), [], ClaimFor, default)).Delivery.Id);
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task Each_endpoint_gets_at_most_its_room_and_full_endpoints_are_left_in_the_store(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);
        var (a, b, full) = (await WebhookBotAsync(store.Db), await WebhookBotAsync(store.Db), await WebhookBotAsync(store.Db));
        foreach (var bot in new[] { a, a, a, a, b, b, b, full, full })
            await DeliveryAsync(store.Db, bot, dueAt: _clock.NowMs);
        var deliveries = new DeliveryStore(store.Db, _clock);

        var claimed = await deliveries.ClaimDueAsync(10, bot => bot == a ? 2 : 1, [full], ClaimFor, default);

        Assert.Equal(2, claimed.Count(w => w.Bot.Id == a));
        Assert.Equal(1, claimed.Count(w => w.Bot.Id == b));
        Assert.DoesNotContain(claimed, w => w.Bot.Id == full);
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task Deliveries_not_yet_due_or_of_a_disabled_endpoint_are_not_claimed(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);
        var enabled = await WebhookBotAsync(store.Db);
        var disabled = await WebhookBotAsync(store.Db, status: "disabled");
        await DeliveryAsync(store.Db, enabled, dueAt: _clock.NowMs + 1_000);
        await DeliveryAsync(store.Db, disabled, dueAt: _clock.NowMs);
        await DeliveryAsync(store.Db, enabled, dueAt: _clock.NowMs, status: "succeeded");

        Assert.Empty(await new DeliveryStore(store.Db, _clock).ClaimDueAsync(10, RoomOf(10), [], ClaimFor, default));
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task A_delivery_whose_bot_is_gone_or_has_no_url_is_failed_not_sent(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);
        var noUrl = await WebhookBotAsync(store.Db, url: null);
        var orphan = await DeliveryAsync(store.Db, "bot_deleted", dueAt: _clock.NowMs);
        var unaddressed = await DeliveryAsync(store.Db, noUrl, dueAt: _clock.NowMs);

        Assert.Empty(await new DeliveryStore(store.Db, _clock).ClaimDueAsync(10, RoomOf(10), [], ClaimFor, default));

        var (orphanRow, unaddressedRow) = (await RowAsync(store.Db, orphan), await RowAsync(store.Db, unaddressed));
        Assert.Equal(("failed", "the bot was deleted"), (orphanRow.Status, orphanRow.LastError));
        Assert.Equal(("failed", "the bot has no webhook URL"), (unaddressedRow.Status, unaddressedRow.LastError));
        Assert.Null(orphanRow.LockedUntil);
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task Two_dispatchers_claiming_at_once_never_get_the_same_delivery(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);
        var bot = await WebhookBotAsync(store.Db);
        for (var i = 0; i < 200; i++) await DeliveryAsync(store.Db, bot, dueAt: _clock.NowMs);
        // Two HubDb instances: two processes, each with its own write gate, meeting only at the store's own lock.
        var other = new HubDb(Microsoft.Extensions.Options.Options.Create(new HubOptions
        {
            Database = kind, DatabaseConnection = store.ConnectionString,
        }));
        var first = new DeliveryStore(store.Db, _clock);
        var second = new DeliveryStore(other, _clock);

        async Task<List<string>> ClaimAllAsync(DeliveryStore dispatcher)
        {
            var mine = new List<string>();
            // Both read the same candidates; the locking UPDATE decides who gets each. Stop once nothing is left free.
            while (true)
            {
                var batch = await dispatcher.ClaimDueAsync(25, RoomOf(1000), [], ClaimFor, default);
                mine.AddRange(batch.Select(w => w.Delivery.Id));
                if (batch.Count == 0 && await UnclaimedAsync(store.Db) == 0) return mine;
            }
        }
        var claims = await Task.WhenAll(Task.Run(() => ClaimAllAsync(first)), Task.Run(() => ClaimAllAsync(second)));

        var ids = claims.SelectMany(c => c).ToList();
        Assert.Equal(200, ids.Count);
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task A_batch_of_tries_is_stored_with_each_outcome(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);
        var bot = await WebhookBotAsync(store.Db);
        for (var i = 0; i < 3; i++) await DeliveryAsync(store.Db, bot, dueAt: _clock.NowMs);
        var deliveries = new DeliveryStore(store.Db, _clock);
        var work = await deliveries.ClaimDueAsync(10, RoomOf(10), [], ClaimFor, default);
        var now = _clock.NowMs;

        await deliveries.RecordAsync(
        [
            new Attempt(work[0], now, Result(AttemptOutcome.Succeeded, 200), new Decision.Delivered()),
            new Attempt(work[1], now, Result(AttemptOutcome.Failed, 500), new Decision.RetryAt(now + 5_000)),
            new Attempt(work[2], now, Result(AttemptOutcome.Failed, 500), new Decision.GiveUp()),
        ]);

        var rows = new[] { await RowAsync(store.Db, work[0].Delivery.Id), await RowAsync(store.Db, work[1].Delivery.Id), await RowAsync(store.Db, work[2].Delivery.Id) };
        Assert.Equal(["succeeded", "pending", "failed"], rows.Select(r => r.Status));
        Assert.All(rows, r => Assert.Equal(1, r.AttemptCount));
        Assert.All(rows, r => Assert.Null(r.LockedUntil));
        Assert.Equal(now + 5_000, rows[1].NextAttemptAt);
        Assert.Equal([200, 500, 500], rows.Select(r => r.LastStatusCode ?? 0));
        await using var c = await store.Db.OpenAsync();
        var attempts = (await c.QueryAsync<(string DeliveryId, int Attempt, string Outcome, string? Error)>(
            "SELECT delivery_id, attempt, outcome, error FROM delivery_attempts ORDER BY outcome")).ToList();
        Assert.Equal(3, attempts.Count);
        Assert.All(attempts, a => Assert.Equal(1, a.Attempt));
        Assert.Equal(["failed", "failed", "succeeded"], attempts.Select(a => a.Outcome));
        Assert.Equal("HTTP 500", attempts[0].Error);
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task Failing_since_follows_the_last_success_within_a_batch(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);
        var (healed, broken, stillFailing) = (await WebhookBotAsync(store.Db), await WebhookBotAsync(store.Db), await WebhookBotAsync(store.Db, failingSince: 1_000));
        foreach (var bot in new[] { healed, healed, broken, broken, stillFailing })
            await DeliveryAsync(store.Db, bot, dueAt: _clock.NowMs);
        await SetFailingSinceAsync(store.Db, healed, 1_000);
        var deliveries = new DeliveryStore(store.Db, _clock);
        var work = await deliveries.ClaimDueAsync(10, RoomOf(10), [], ClaimFor, default);
        var now = _clock.NowMs;
        Attempt Try(string bot, int nth, long startedAt, bool ok) => new(work.Where(w => w.Bot.Id == bot).ElementAt(nth), startedAt,
            ok ? Result(AttemptOutcome.Succeeded, 200) : Result(AttemptOutcome.Failed, 500),
            ok ? new Decision.Delivered() : new Decision.RetryAt(now + 5_000));

        await deliveries.RecordAsync(
        [
            Try(healed, 1, now + 2, ok: true), Try(healed, 0, now + 1, ok: false),     // fails, then succeeds: healed
            Try(broken, 0, now + 1, ok: true), Try(broken, 1, now + 3, ok: false),     // succeeds, then fails at now + 3
            Try(stillFailing, 0, now + 4, ok: false),                                  // keeps its first failure time
        ]);

        Assert.Null(await FailingSinceAsync(store.Db, healed));
        Assert.Equal(now + 3, await FailingSinceAsync(store.Db, broken));
        Assert.Equal(1_000, await FailingSinceAsync(store.Db, stillFailing));
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task A_disabling_try_switches_the_endpoint_off_and_its_delivery_waits(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);
        var bot = await WebhookBotAsync(store.Db);
        var id = await DeliveryAsync(store.Db, bot, dueAt: _clock.NowMs);
        var deliveries = new DeliveryStore(store.Db, _clock);
        var work = Assert.Single(await deliveries.ClaimDueAsync(10, RoomOf(10), [], ClaimFor, default));

        await deliveries.RecordAsync([new Attempt(work, _clock.NowMs, Result(AttemptOutcome.Gone, 410),
            new Decision.DisableEndpoint("the endpoint answered 410 Gone", _clock.NowMs))]);

        await using var c = await store.Db.OpenAsync();
        var (status, reason) = await c.QuerySingleAsync<(string, string)>(
            "SELECT webhook_status, webhook_disabled_reason FROM bots WHERE id = @bot", new { bot });
        Assert.Equal(("disabled", "the endpoint answered 410 Gone"), (status, reason));
        Assert.Equal("pending", (await RowAsync(store.Db, id)).Status);
        Assert.Empty(await deliveries.ClaimDueAsync(10, RoomOf(10), [], ClaimFor, default));
    }

    private static AttemptResult Result(AttemptOutcome outcome, int status) =>
        new(outcome, status, 3, outcome == AttemptOutcome.Succeeded ? null : $"HTTP {status}", "ok", null);

    private static async Task<string> WebhookBotAsync(HubDb db, string? url = "https://example.com/hook", string status = "enabled", long? failingSince = null)
    {
        var id = await Rows.BotAsync(db);
        await db.ExecuteAsync(
            "UPDATE bots SET webhook_url = @url, webhook_status = @status, webhook_failing_since = @failingSince WHERE id = @id",
            new { id, url, status, failingSince });
        return id;
    }

    private static async Task<long> UnclaimedAsync(HubDb db)
    {
        await using var c = await db.OpenAsync();
        return await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM deliveries WHERE status = 'pending' AND locked_until IS NULL");
    }

    private static Task SetFailingSinceAsync(HubDb db, string bot, long at) =>
        db.ExecuteAsync("UPDATE bots SET webhook_failing_since = @at WHERE id = @bot", new { bot, at });

    private static async Task<long?> FailingSinceAsync(HubDb db, string bot)
    {
        await using var c = await db.OpenAsync();
        return await c.QuerySingleAsync<long?>("SELECT webhook_failing_since FROM bots WHERE id = @bot", new { bot });
    }

    private static async Task<string> DeliveryAsync(HubDb db, string botId, long dueAt, string status = "pending")
    {
        var id = Ids.New("evt");
        await db.ExecuteAsync(
            """
            INSERT INTO deliveries (id, bot_id, event_type, payload, status, attempt_count, next_attempt_at, created_at, updated_at)
            VALUES (@id, @botId, 'message.reply', '{"n":1}', @status, 0, @dueAt, 0, 0)
            """, new { id, botId, status, dueAt });
        return id;
    }

    private sealed class Row
    {
        public string Status { get; init; } = "";
        public int AttemptCount { get; init; }
        public long? NextAttemptAt { get; init; }
        public long? LockedUntil { get; init; }
        public int? LastStatusCode { get; init; }
        public string? LastError { get; init; }
    }

    private static async Task<Row> RowAsync(HubDb db, string id)
    {
        await using var c = await db.OpenAsync();
        return await c.QuerySingleAsync<Row>(
            "SELECT status, attempt_count, next_attempt_at, locked_until, last_status_code, last_error FROM deliveries WHERE id = @id", new { id });
    }
}

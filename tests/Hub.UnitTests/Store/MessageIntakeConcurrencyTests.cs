using System.Security.Claims;
using Hub.Api.Auth;
using Hub.Api.Messages;
using Hub.Core.Data;
using Hub.Core.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Hub.UnitTests.Store;

/// <summary>
/// Intakes at once, as two API processes would send them (two HubDb instances, each with its own write gate,
/// meeting only at the store's locks): no gap in the sequence, one message per Idempotency-Key, no exception.
/// </summary>
public class MessageIntakeConcurrencyTests
{
    private static readonly ClaimsPrincipal Admin = new(new ClaimsIdentity([new Claim(ClaimTypes.Role, HubClaims.AdminRole)], HubClaims.Scheme));

    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 1, 1, 9, 0, 0, TimeSpan.Zero));

    private MessageIntake Intake(HubDb db) =>
        new(db, new Hub.Core.Bots.BotCache(TimeSpan.FromSeconds(3)), _clock, Options.Create(new MessageOptions { ReplyRedriveSeconds = 30 }));

    private static (MessageIntake First, MessageIntake Second) TwoProcesses(TestStore store, Func<HubDb, MessageIntake> intake) =>
        (intake(store.Db), intake(new HubDb(Options.Create(new HubOptions { Database = store.Db.Dialect.Name, DatabaseConnection = store.ConnectionString }))));

    [Theory, SqliteStore, SqlServerStore]
    public async Task Fifty_intakes_at_once_on_one_conversation_get_sequences_1_to_50(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);
        var conversation = await Rows.ConversationAsync(store.Db, await Rows.BotAsync(store.Db));
        var (first, second) = TwoProcesses(store, Intake);

        var outcomes = await Task.WhenAll(Enumerable.Range(1, 50).Select(i =>
            Task.Run(() => (i % 2 == 0 ? first : second).AcceptAsync(Admin, conversation, $"message {i}", "blocking", null, default))));

        var accepted = outcomes.Select(o => Assert.IsType<MessageIntake.Accepted>(o)).ToList();
        Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), accepted.Select(a => a.Message.Sequence).Order());
        var stored = await Rows.MessagesAsync(store.Db, conversation);
        Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), stored.Select(m => m.Sequence));
        Assert.Equal(50, stored.Select(m => m.Content).Distinct().Count());
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task Fifty_intakes_at_once_with_five_keys_store_one_message_per_key_and_answer_each_request_with_it(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);
        var conversation = await Rows.ConversationAsync(store.Db, await Rows.BotAsync(store.Db));
        var (first, second) = TwoProcesses(store, Intake);

        var requests = Enumerable.Range(0, 50).Select(i => (Key: $"key-{i % 5}", Process: i % 2 == 0 ? first : second)).ToList();
        var outcomes = await Task.WhenAll(requests.Select(r =>
            Task.Run(() => r.Process.AcceptAsync(Admin, conversation, $"content of {r.Key}", "blocking", r.Key, default))));

        var answers = requests.Zip(outcomes, (r, o) => (r.Key, Accepted: Assert.IsType<MessageIntake.Accepted>(o))).ToList();
        var stored = await Rows.MessagesAsync(store.Db, conversation);
        Assert.Equal(5, stored.Count);
        Assert.Equal([1, 2, 3, 4, 5], stored.Select(m => m.Sequence));
        foreach (var perKey in answers.GroupBy(a => a.Key))
        {
            var message = Assert.Single(stored, m => m.Content == $"content of {perKey.Key}");
            Assert.All(perKey, a => Assert.Equal(message.Id, a.Accepted.Message.Id));
            Assert.Single(perKey, a => !a.Accepted.Replayed);
        }
    }

    // SQLite compares TEXT with BINARY collation; SQL Server's = pads trailing spaces even in a binary collation,
    // which is why its key is matched on a hash (0001_initial.sql). Three keys, three messages, on both.
    [Theory, SqliteStore, SqlServerStore]
    public async Task Keys_that_differ_in_case_or_a_trailing_space_are_different_keys(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);
        var conversation = await Rows.ConversationAsync(store.Db, await Rows.BotAsync(store.Db));
        var intake = Intake(store.Db);
        string[] keys = ["abc", "ABC ", "abc "];

        var firsts = new List<MessageIntake.Accepted>();
        foreach (var key in keys)
            firsts.Add(Assert.IsType<MessageIntake.Accepted>(await intake.AcceptAsync(Admin, conversation, "Hello", "blocking", key, default)));
        var replays = new List<MessageIntake.Accepted>();
        foreach (var key in keys)
            replays.Add(Assert.IsType<MessageIntake.Accepted>(await intake.AcceptAsync(Admin, conversation, "Hello", "blocking", key, default)));

        Assert.All(firsts, a => Assert.False(a.Replayed));
        Assert.Equal(3, firsts.Select(a => a.Message.Id).Distinct().Count());
        Assert.All(replays, a => Assert.True(a.Replayed));
        Assert.Equal(firsts.Select(a => a.Message.Id), replays.Select(a => a.Message.Id));
        Assert.Equal(3, (await Rows.MessagesAsync(store.Db, conversation)).Count);
    }
}

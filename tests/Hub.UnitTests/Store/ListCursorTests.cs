using System.Security.Claims;
using Dapper;
using Hub.Api.Auth;
using Hub.Api.Bots;
using Hub.Api.Conversations;
using Hub.Core.Conversations;
using Hub.Core.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Hub.UnitTests.Store;

/// <summary>The conversations list pages in commit order: a conversation that commits late is not passed over.</summary>
public class ListCursorTests
{
    private static readonly ClaimsPrincipal Admin = new(new ClaimsIdentity([new Claim(ClaimTypes.Role, HubClaims.AdminRole)], HubClaims.Scheme));

    private static async Task<ListResult<ConversationView>> PageAsync(TestStore store, string? cursor, int limit = 10)
    {
        var result = await ConversationsApi.ListConversations(Admin, store.Db, null, null, limit.ToString(), cursor, null)
            .WaitAsync(TimeSpan.FromSeconds(20));
        return Assert.IsType<Ok<ListResult<ConversationView>>>(result.Result).Value!;
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task A_page_walk_returns_every_conversation_once_in_creation_order(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);
        var bot = await Rows.BotAsync(store.Db);
        var created = new List<string>();
        for (var i = 0; i < 25; i++) created.Add(await Rows.ConversationAsync(store.Db, bot));

        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var page = await PageAsync(store, cursor);
            seen.AddRange(page.Data.Select(c => c.ConversationId));
            cursor = page.NextCursor;
        } while (cursor is not null);

        Assert.Equal(created, seen);
    }

    // SQL Server takes an IDENTITY value when the INSERT runs: X (seq 2) is still uncommitted when Y and Z
    // (seq 3, 4) commit. Paged by seq, the first page of two was A, Y with a cursor past Y, and X, once
    // committed, was not in the rest of the walk. Paged by the insert's rowversion below
    // MIN_ACTIVE_ROWVERSION(), the list stops before X until X commits. (SQLite cannot have the inserts
    // open at once: one writer, so seq is commit order there.)
    [Theory, SqlServerStore]
    public async Task A_conversation_that_commits_after_a_later_one_is_not_skipped(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);
        var bot = await Rows.BotAsync(store.Db);
        var a = await Rows.ConversationAsync(store.Db, bot);

        var x = Ids.New("conv");
        await using var slow = await store.Db.OpenAsync();
        await using var tx = await slow.BeginTransactionAsync(store.Db.Dialect.WriteIsolation);
        await slow.ExecuteAsync(
            "INSERT INTO conversations (id, bot_id, status, last_sequence, created_at, updated_at) VALUES (@x, @bot, 'bot', 0, 0, 0)",
            new { x, bot }, tx);
        await slow.ExecuteAsync(store.Db.Dialect.StampPosition("conversations", "@x")!, new { x }, tx);
        var y = await Rows.ConversationAsync(store.Db, bot);
        var z = await Rows.ConversationAsync(store.Db, bot);

        var whileOpen = await PageAsync(store, null, limit: 2);
        Assert.Equal([a], whileOpen.Data.Select(c => c.ConversationId));

        await tx.CommitAsync();
        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var page = await PageAsync(store, cursor, limit: 2);
            seen.AddRange(page.Data.Select(c => c.ConversationId));
            cursor = page.NextCursor;
        } while (cursor is not null);
        Assert.Equal([a, x, y, z], seen);
    }
}

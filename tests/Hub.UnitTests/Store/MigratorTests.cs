using Dapper;
using Hub.Core.Data;

namespace Hub.UnitTests.Store;

public class MigratorTests
{
    private static async Task<List<(int Version, string Name)>> AppliedAsync(HubDb db)
    {
        await using var c = await db.OpenAsync();
        return (await c.QueryAsync<(int, string)>("SELECT version, name FROM schema_migrations ORDER BY version")).ToList();
    }

    private static List<(int, string)> Expected(HubDb db) =>
        Migrator.Scripts(db.Dialect.Name).Select(s => (s.Version, s.Name)).ToList();

    [Theory, SqliteStore, SqlServerStore]
    public async Task Migrations_apply_to_an_empty_store(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind, migrate: false);

        await store.NewMigrator().MigrateAsync();

        Assert.Equal(Expected(store.Db), await AppliedAsync(store.Db));
        await using var c = await store.Db.OpenAsync();
        foreach (var table in new[] { "settings", "bots", "bot_keys", "conversations", "messages", "idempotency_keys" })
            Assert.Equal(0, await c.ExecuteScalarAsync<int>($"SELECT COUNT(*) FROM {table}"));
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task Migrating_again_changes_nothing(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind, migrate: false);
        await store.NewMigrator().MigrateAsync();
        var botId = await Rows.BotAsync(store.Db);

        await store.NewMigrator().MigrateAsync();

        Assert.Equal(Expected(store.Db), await AppliedAsync(store.Db));
        await using var c = await store.Db.OpenAsync();
        Assert.Equal(botId, await c.ExecuteScalarAsync<string>("SELECT id FROM bots"));
    }

    [Theory, SqliteStore, SqlServerStore]
    public async Task Two_processes_migrating_at_once_apply_each_script_once(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind, migrate: false);

        await Task.WhenAll(
            Task.Run(() => store.NewMigrator().MigrateAsync()),
            Task.Run(() => store.NewMigrator().MigrateAsync()));

        Assert.Equal(Expected(store.Db), await AppliedAsync(store.Db));
    }

    [Theory, SqliteStore]
    public async Task The_sqlite_store_runs_in_WAL_mode(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);

        await using var c = await store.Db.OpenAsync();
        Assert.Equal("wal", await c.ExecuteScalarAsync<string>("PRAGMA journal_mode"));
    }

    [Theory, SqliteStore]
    public async Task A_pooled_sqlite_connection_keeps_its_settings_when_opened_again(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);

        for (var open = 0; open < 3; open++)
        {
            await using var c = await store.Db.OpenAsync();
            Assert.Equal(1, await c.ExecuteScalarAsync<long>("PRAGMA foreign_keys"));
            Assert.Equal(10000, await c.ExecuteScalarAsync<long>("PRAGMA busy_timeout"));
            Assert.Equal(1, await c.ExecuteScalarAsync<long>("PRAGMA synchronous")); // NORMAL
            Assert.Equal(10000, await c.ExecuteScalarAsync<long>("PRAGMA wal_autocheckpoint")); // a backstop: SqliteCheckpointer does the work
        }
    }

    [Theory, SqliteStore]
    public async Task The_background_checkpoint_moves_the_whole_log_into_the_database_file(string kind)
    {
        await using var store = await TestStore.CreateAsync(kind);
        for (var i = 0; i < 5; i++) await Rows.BotAsync(store.Db);
        var checkpointer = new SqliteCheckpointer(store.Db, Microsoft.Extensions.Logging.Abstractions.NullLogger<SqliteCheckpointer>.Instance);

        var (log, checkpointed) = await checkpointer.CheckpointAsync(default);

        Assert.True(log > 0);
        Assert.Equal(log, checkpointed);
    }
}

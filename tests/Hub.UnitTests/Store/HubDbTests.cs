using Dapper;
using Microsoft.Data.Sqlite;

namespace Hub.UnitTests.Store;

/// <summary>HubDb's write path: the transaction it opens, and what it runs again.</summary>
public class HubDbTests
{
    private static Task<long> SettingsAsync(TestStore store) =>
        store.Db.OpenAsync().ContinueWith(async t =>
        {
            await using var c = t.Result;
            return await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM settings");
        }).Unwrap();

    [Fact]
    public async Task A_transaction_the_store_rolled_back_runs_again_from_its_first_statement()
    {
        await using var store = await TestStore.CreateAsync(TestStore.Sqlite);
        var runs = 0;

        var result = await store.Db.InTransactionAsync(async (c, tx) =>
        {
            runs++;
            await c.ExecuteAsync("INSERT INTO settings (name, value) VALUES (@name, 'x')", new { name = $"run-{runs}" }, tx);
            // What SQLite reports when the file stayed locked past busy_timeout; SQL Server's 1205 is handled alike.
            if (runs < 3) throw new SqliteException("database is locked", 5);
            return runs;
        });

        Assert.Equal(3, result);
        Assert.Equal(1, await SettingsAsync(store)); // the rolled-back runs left nothing behind
    }

    [Fact]
    public async Task A_unique_violation_is_not_run_again()
    {
        await using var store = await TestStore.CreateAsync(TestStore.Sqlite);
        await store.Db.ExecuteAsync("INSERT INTO settings (name, value) VALUES ('a', 'b')");
        var runs = 0;

        var e = await Assert.ThrowsAsync<SqliteException>(() => store.Db.InTransactionAsync(async (c, tx) =>
        {
            runs++;
            return await c.ExecuteAsync("INSERT INTO settings (name, value) VALUES ('a', 'c')", transaction: tx);
        }));

        Assert.True(store.Db.Dialect.IsUniqueViolation(e));
        Assert.Equal(1, runs);
    }

    [Fact]
    public async Task A_store_that_stays_busy_fails_after_a_few_runs()
    {
        await using var store = await TestStore.CreateAsync(TestStore.Sqlite);
        var runs = 0;

        await Assert.ThrowsAsync<SqliteException>(() => store.Db.InTransactionAsync<int>((_, _) =>
        {
            runs++;
            throw new SqliteException("database is locked", 5);
        }));

        Assert.Equal(Hub.Core.Data.HubDb.WriteAttempts, runs);
    }

    // The write lock is taken at BEGIN (BEGIN IMMEDIATE), not at the first write: a transaction that read first
    // and then tried to write could otherwise meet another such transaction and fail with SQLITE_BUSY at once.
    [Fact]
    public async Task A_SQLite_write_transaction_holds_the_write_lock_from_its_start()
    {
        await using var store = await TestStore.CreateAsync(TestStore.Sqlite);
        // Microsoft.Data.Sqlite retries a busy statement itself for the command timeout: one second here.
        await using var other = new SqliteConnection(store.ConnectionString + ";Default Timeout=1");
        await other.OpenAsync();
        await other.ExecuteAsync("PRAGMA busy_timeout=0;");

        var refused = await store.Db.InTransactionAsync(async (c, tx) =>
        {
            // Nothing written yet in this transaction.
            var e = await Assert.ThrowsAsync<SqliteException>(() => other.ExecuteAsync("INSERT INTO settings (name, value) VALUES ('x', 'y')"));
            return e.SqliteErrorCode;
        });

        Assert.Equal(5, refused); // SQLITE_BUSY
    }
}

using System.Text.RegularExpressions;
using Hub.Core.Data;

namespace Hub.UnitTests.Core;

public class MigrationScriptsTests
{
    [Fact]
    public void Sqlite_and_sql_server_have_the_same_numbered_migrations()
    {
        var sqlite = Migrator.Scripts("sqlite").Select(s => (s.Version, s.Name)).ToList();
        var sqlServer = Migrator.Scripts("sqlserver").Select(s => (s.Version, s.Name)).ToList();

        Assert.NotEmpty(sqlite);
        Assert.Equal(sqlite, sqlServer);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("sqlserver")]
    public void Versions_start_at_one_and_have_no_gaps_or_repeats(string dialect)
    {
        var versions = Migrator.Scripts(dialect).Select(s => s.Version).ToList();

        Assert.Equal(Enumerable.Range(1, versions.Count), versions);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("sqlserver")]
    public void Every_script_has_sql(string dialect)
    {
        Assert.All(Migrator.Scripts(dialect), s => Assert.False(string.IsNullOrWhiteSpace(s.Sql), s.Name));
    }

    [Fact]
    public void An_unknown_dialect_has_no_scripts()
    {
        Assert.Empty(Migrator.Scripts("postgres"));
    }

    [Fact]
    public void Sql_server_scripts_are_one_batch_each_because_the_migrator_runs_them_whole()
    {
        Assert.All(Migrator.Scripts("sqlserver"), s =>
            Assert.DoesNotMatch(new Regex(@"^\s*GO\s*$", RegexOptions.Multiline | RegexOptions.IgnoreCase), s.Sql));
    }

    /// <summary>
    /// What only SQL Server has, because SqlServerDialect needs it where SQLite needs nothing: the insert's
    /// rowversion that list cursors page by (SQLite's seq is commit order already), and the hash that
    /// idempotency keys are compared on (SQL Server's = ignores trailing spaces; SQLite's does not).
    /// </summary>
    private static readonly string[] SqlServerOnly =
    [
        "conversations.rv", "conversations.created_rv", "deliveries.rv", "deliveries.created_rv", "idempotency_keys.idem_key_hash",
        "index ix_conversations_created on conversations (created_rv)", "index ix_conversations_bot_created on conversations (bot_id, created_rv)",
        "index ix_deliveries_created on deliveries (created_rv)", "index ix_deliveries_bot_created on deliveries (bot_id, created_rv)",
    ];

    [Fact]
    public void Both_dialects_create_the_same_tables_columns_and_indexes()
    {
        var sqlServer = Schema("sqlserver");
        Assert.All(SqlServerOnly, item => Assert.Contains(item, sqlServer));
        Assert.Equal(Schema("sqlite"), sqlServer.Except(SqlServerOnly).ToList());
    }

    /// <summary>"table.column", "index name on table" and "unique index …" lines, from every script of a dialect.</summary>
    private static List<string> Schema(string dialect)
    {
        var schema = new List<string>();
        foreach (var (_, _, sql) in Migrator.Scripts(dialect))
        {
            foreach (Match table in Regex.Matches(sql, @"CREATE TABLE (\w+) \((.*?)\n\);", RegexOptions.Singleline))
            {
                schema.Add($"table {table.Groups[1].Value}");
                foreach (Match column in Regex.Matches(table.Groups[2].Value, @"^\s+([a-z_][a-z0-9_]*)\s+[A-Z]", RegexOptions.Multiline))
                    schema.Add($"{table.Groups[1].Value}.{column.Groups[1].Value}");
            }
            foreach (Match added in Regex.Matches(sql, @"ALTER TABLE (\w+) ADD (?:COLUMN )?(\w+)"))
                schema.Add($"{added.Groups[1].Value}.{added.Groups[2].Value}");
            foreach (Match index in Regex.Matches(sql, @"CREATE (UNIQUE )?INDEX (\w+) ON (\w+) \(([^)]*)\)"))
                schema.Add($"{index.Groups[1].Value}index {index.Groups[2].Value} on {index.Groups[3].Value} ({index.Groups[4].Value})");
        }
        schema.Sort(StringComparer.Ordinal);
        return schema;
    }
}

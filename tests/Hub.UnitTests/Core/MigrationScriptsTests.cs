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

    [Fact]
    public void Both_dialects_create_the_same_tables_columns_and_indexes()
    {
        Assert.Equal(Schema("sqlite"), Schema("sqlserver"));
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

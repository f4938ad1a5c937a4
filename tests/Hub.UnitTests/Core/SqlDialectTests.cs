using Hub.Core.Data;

namespace Hub.UnitTests.Core;

public class SqlDialectTests
{
    [Theory]
    [InlineData("sqlite", "UPDATE t SET n = n + 1 WHERE id = @id RETURNING n")]
    [InlineData("sqlserver", "UPDATE t SET n = n + 1 OUTPUT inserted.n WHERE id = @id")]
    public void An_update_returns_the_new_value_in_the_dialects_own_syntax(string database, string expected) =>
        Assert.Equal(expected, SqlDialect.For(database).UpdateReturning("t", "n = n + 1", "id = @id", "n"));
}

using Hub.Api.Errors;
using Hub.Api.Paging;

namespace Hub.UnitTests.Api;

public class CursorTimeTests
{
    [Theory]
    [InlineData("0001-01-01T00:00:00+01:00")] // its UTC instant is before year 1
    [InlineData("9999-12-31T23:59:59-01:00")] // its UTC instant is after year 9999
    [InlineData("0001-01-01")]
    [InlineData("9999-12-31T23:59:59Z")]
    [InlineData("2026-13-45T99:00:00Z")]
    public void A_time_at_or_past_the_edges_is_a_value_or_a_validation_problem_never_another_exception(string value)
    {
        var error = Record.Exception(() => Cursor.Time("updated_after", value));

        Assert.True(error is null or HubProblemException { Status: 400 }, $"{value}: {error}");
    }

    [Fact]
    public void A_time_without_an_offset_is_utc()
    {
        Assert.Equal(DateTimeOffset.Parse("2026-11-21T09:00:00Z").ToUnixTimeMilliseconds(), Cursor.Time("t", "2026-11-21T09:00:00"));
    }
}

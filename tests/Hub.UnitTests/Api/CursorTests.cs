using System.Buffers.Text;
using System.Text;
using Hub.Api.Errors;
using Hub.Api.Paging;

namespace Hub.UnitTests.Api;

public class CursorTests
{
    [Theory]
    [InlineData("conv", 0)]
    [InlineData("conv", 1)]
    [InlineData("msg", 42)]
    [InlineData("conv", long.MaxValue)]
    public void A_cursor_decodes_to_the_position_it_was_made_from(string kind, long position)
    {
        Assert.Equal(position, Cursor.Decode(kind, Cursor.Encode(kind, position)));
    }

    [Fact]
    public void A_cursor_is_opaque_and_url_safe()
    {
        var cursor = Cursor.Encode("conv", 123456789);

        Assert.DoesNotContain("123456789", cursor);
        Assert.All(cursor, ch => Assert.True(char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_', $"'{ch}' is not URL-safe"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void No_cursor_starts_at_the_beginning(string? cursor)
    {
        Assert.Equal(0, Cursor.Decode("conv", cursor));
    }

    public static TheoryData<string> BadCursors => new()
    {
        "!!!not base64!!!",
        "a",
        Cursor.Encode("msg", 5),
        Cursor.Encode("conversation", 5),
        Cursor.Encode("conv", -1),
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes("conv:")),
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes("conv:five")),
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes("conv:99999999999999999999")),
        Base64Url.EncodeToString([0xff, 0xfe, 0x00, 0x01]),
    };

    [Theory]
    [MemberData(nameof(BadCursors))]
    public void A_garbled_or_foreign_cursor_is_a_validation_problem(string cursor)
    {
        var problem = Assert.Throws<HubProblemException>(() => Cursor.Decode("conv", cursor));

        Assert.Equal(400, problem.Status);
        Assert.Equal("validation_failed", problem.Code);
        Assert.True(problem.Errors!.ContainsKey("cursor"));
    }

    [Theory]
    [InlineData(null, 20)]
    [InlineData("", 20)]
    [InlineData("1", 1)]
    [InlineData("50", 50)]
    [InlineData("100", 100)]
    public void A_limit_from_1_to_100_is_taken_and_none_means_20(string? limit, int expected)
    {
        Assert.Equal(expected, Cursor.Limit(limit));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("101")]
    [InlineData("-5")]
    [InlineData("1.5")]
    [InlineData("ten")]
    [InlineData("99999999999")]
    public void A_limit_out_of_bounds_is_a_validation_problem(string limit)
    {
        var problem = Assert.Throws<HubProblemException>(() => Cursor.Limit(limit));

        Assert.Equal(400, problem.Status);
        Assert.Equal("validation_failed", problem.Code);
        Assert.True(problem.Errors!.ContainsKey("limit"));
    }

    [Fact]
    public void Times_are_read_as_RFC_3339_in_Unix_milliseconds()
    {
        Assert.Equal(DateTimeOffset.Parse("2026-11-21T09:00:00Z").ToUnixTimeMilliseconds(), Cursor.Time("updated_after", "2026-11-21T09:00:00Z"));
        Assert.Equal(DateTimeOffset.Parse("2026-11-21T07:00:00Z").ToUnixTimeMilliseconds(), Cursor.Time("updated_after", "2026-11-21T09:00:00+02:00"));
        Assert.Null(Cursor.Time("updated_after", null));
    }

    [Fact]
    public void A_time_that_is_not_a_time_is_a_validation_problem_on_its_field()
    {
        var problem = Assert.Throws<HubProblemException>(() => Cursor.Time("updated_after", "yesterday"));

        Assert.Equal("validation_failed", problem.Code);
        Assert.True(problem.Errors!.ContainsKey("updated_after"));
    }
}

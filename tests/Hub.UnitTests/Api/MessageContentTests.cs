using System.Text;
using Hub.Api.Messages;

namespace Hub.UnitTests.Api;

public class MessageContentTests
{
    [Theory]
    [InlineData("", 0)]
    [InlineData("abc", 3)]
    [InlineData("é", 1)]
    [InlineData("e\u0301", 2)] // e + combining acute: two scalar values
    [InlineData("\U0001F600", 1)]
    [InlineData("a\U0001F600b\U0001F44D", 4)]
    public void Characters_are_counted_as_unicode_scalar_values(string text, int expected)
    {
        Assert.Equal(expected, MessageContent.CountCharacters(text));
        Assert.Equal(text.EnumerateRunes().Count(), MessageContent.CountCharacters(text));
    }

    [Fact]
    public void An_unpaired_surrogate_counts_as_one_character()
    {
        // Built here, not in [InlineData]: the test runner cannot carry a lone surrogate in a test case's name.
        Assert.Equal(1, MessageContent.CountCharacters(new string('\uD800', 1)));
        Assert.Equal(2, MessageContent.CountCharacters(new string(['\uDC00', '\uD800']))); // low before high is no pair
        Assert.Equal(2, MessageContent.CountCharacters(new string(['\uD83D', '\uD83D', '\uDE00']))); // a lone high, then a pair
        Assert.Equal(3, MessageContent.CountCharacters(new string(['a', '\uDE00', 'b'])));
    }

    [Fact]
    public void The_limit_is_32000_characters_whatever_their_utf16_length()
    {
        var emoji = "\U0001F600";

        Assert.False(MessageContent.IsTooLong(string.Concat(Enumerable.Repeat(emoji, 32_000))));
        Assert.True(MessageContent.IsTooLong(string.Concat(Enumerable.Repeat(emoji, 32_001))));
        Assert.False(MessageContent.IsTooLong(new string('é', 32_000)));
        Assert.True(MessageContent.IsTooLong(new string('a', 32_001)));
    }
}

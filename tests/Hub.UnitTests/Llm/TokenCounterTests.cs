using Hub.AiWorker.Llm;

namespace Hub.UnitTests.Llm;

public class TokenCounterTests
{
    [Theory]
    [InlineData(null, 0)]
    [InlineData("", 0)]
    [InlineData("   \n\t ", 0)]
    [InlineData("hello", 1)]
    [InlineData("Hello, world!", 4)]
    [InlineData("abc123", 2)]
    [InlineData("a-b", 3)]
    [InlineData("héllo wörld", 2)]
    public void Runs_of_letters_runs_of_digits_and_other_characters_are_one_token_each(string? text, int expected)
    {
        Assert.Equal(expected, TokenCounter.Count(text));
    }

    [Theory]
    [InlineData("abcdefgh", 1)]
    [InlineData("abcdefghi", 2)]
    [InlineData("abcdefghijklmnop", 2)]
    [InlineData("abcdefghijklmnopq", 3)]
    [InlineData("internationalization", 3)]
    [InlineData("12345678", 1)]
    [InlineData("123456789", 2)]
    public void A_run_longer_than_eight_characters_counts_one_more_token_per_further_eight(string text, int expected)
    {
        Assert.Equal(expected, TokenCounter.Count(text));
    }

    [Theory]
    [InlineData("👍", 1)]
    [InlineData("Thanks 👍👍", 3)]
    [InlineData("a😀b", 3)]
    public void An_emoji_is_one_character_so_one_token(string text, int expected)
    {
        Assert.Equal(expected, TokenCounter.Count(text));
    }

    [Fact]
    public void Spacing_does_not_change_the_count()
    {
        Assert.Equal(TokenCounter.Count("Where is my order?"), TokenCounter.Count("  Where   is\nmy\torder ?  "));
    }

    [Fact]
    public void A_prompt_adds_four_tokens_per_message_and_three_to_prime_the_reply()
    {
        ChatTurn[] messages = [new("system", "Be brief."), new("user", "Hi")];

        // "Be brief." = Be, brief, "." → 3; "Hi" → 1.
        Assert.Equal((4 + 3) + (4 + 1) + 3, TokenCounter.CountPrompt(messages));
    }

    [Fact]
    public void An_empty_prompt_still_costs_the_reply_priming()
    {
        Assert.Equal(TokenCounter.ReplyPriming, TokenCounter.CountPrompt([]));
    }
}

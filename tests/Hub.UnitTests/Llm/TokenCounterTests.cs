using Hub.AiWorker.Llm;

namespace Hub.UnitTests.Llm;

public class TokenCounterTests
{
    [Theory]
    [InlineData(null, 0)]
    [InlineData("", 0)]
    [InlineData("hello world", 2)]
    [InlineData("Hello, world!", 4)]
    [InlineData("Where is my order?", 5)]
    [InlineData("internationalization", 2)]
    [InlineData("👍", 1)]
    [InlineData("Be brief.", 3)]
    public void Text_is_counted_with_o200k_base_as_openai_counts_it_for_gpt_4o(string? text, int expected)
    {
        Assert.Equal(expected, TokenCounter.Count(text));
    }

    [Fact]
    public void The_vocabulary_is_o200k_base()
    {
        // o200k_base's ids for "Hello", ",", " world", "!" (cl100k_base would give 9906, 11, 1917, 0).
        Assert.Equal([13225, 11, 2375, 0], TokenCounter.Tokenizer.EncodeToIds("Hello, world!"));
    }

    [Fact]
    public void A_prompt_adds_three_tokens_per_message_and_its_role_and_three_to_prime_the_reply()
    {
        ChatTurn[] messages = [new("system", "Be brief."), new("user", "Hi")];

        // "system" 1 + "Be brief." 3; "user" 1 + "Hi" 1.
        Assert.Equal((3 + 1 + 3) + (3 + 1 + 1) + 3, TokenCounter.CountPrompt(messages));
    }

    [Fact]
    public void An_empty_prompt_still_costs_the_reply_priming()
    {
        Assert.Equal(TokenCounter.ReplyPriming, TokenCounter.CountPrompt([]));
    }

    [Fact]
    public async Task Counting_from_many_threads_at_once_gives_the_same_counts()
    {
        const string text = "Hi, I ordered a blue sweater last week (order #48213) and it still hasn't shipped.";
        var expected = TokenCounter.Count(text);

        var counts = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
            Enumerable.Range(0, 500).Select(_ => TokenCounter.Count(text)).Distinct().ToArray())));

        Assert.All(counts, c => Assert.Equal([expected], c));
    }
}

using Hub.AiWorker.Llm;

namespace Hub.UnitTests.Llm;

public class OfflineProviderTests
{
    private static readonly string[] Knowledge =
    [
        "Orders ship within 2 business days.",
        "Returns are free for 30 days.",
        "Our support team is available Monday to Friday.",
    ];

    private static LlmRequest Ask(string question, IReadOnlyList<string>? knowledge = null, string? fallback = "I don't know that yet, sorry.") =>
        new(null, null, [new("system", "You are a helpful assistant."), new("user", question)], knowledge ?? Knowledge, fallback);

    private static async Task<List<LlmUpdate>> Collect(LlmRequest request, CancellationToken ct = default)
    {
        var updates = new List<LlmUpdate>();
        await foreach (var update in new OfflineProvider().StreamAsync(request, ct)) updates.Add(update);
        return updates;
    }

    private static async Task<string> AnswerText(LlmRequest request) =>
        string.Concat((await Collect(request)).Select(u => u.Text));

    [Theory]
    [InlineData("When will my order ship?", 0)]
    [InlineData("Is shipping fast?", 0)]
    [InlineData("Can I return an item?", 1)]
    [InlineData("Is your support team there on Monday?", 2)]
    public async Task It_answers_with_the_knowledge_entry_that_shares_the_most_terms(string question, int expected)
    {
        Assert.Equal(Knowledge[expected], await AnswerText(Ask(question)));
    }

    [Fact]
    public async Task It_answers_with_the_fallback_text_when_no_entry_matches()
    {
        Assert.Equal("Ask me about orders.", await AnswerText(Ask("What is the weather on Mars?", fallback: "Ask me about orders.")));
    }

    [Fact]
    public async Task A_question_of_only_common_words_matches_nothing()
    {
        Assert.Equal("Ask me about orders.", await AnswerText(Ask("How are you?", fallback: "Ask me about orders.")));
    }

    [Fact]
    public async Task It_answers_with_the_fallback_text_when_the_bot_has_no_knowledge()
    {
        Assert.Equal("Ask me about orders.", await AnswerText(Ask("When will my order ship?", knowledge: [], fallback: "Ask me about orders.")));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public async Task Without_a_fallback_text_it_uses_the_default_one(string? fallback)
    {
        Assert.Equal(OfflineProvider.DefaultFallback, await AnswerText(Ask("What is the weather on Mars?", fallback: fallback)));
    }

    [Fact]
    public async Task It_answers_the_last_user_message_not_earlier_ones()
    {
        var request = new LlmRequest(null, null,
            [
                new("system", "You are a helpful assistant."),
                new("user", "Can I return this?"),
                new("assistant", "Returns are free for 30 days."),
                new("user", "And when does my order ship?"),
            ],
            Knowledge, null);

        Assert.Equal(Knowledge[0], await AnswerText(request));
    }

    [Fact]
    public async Task Streamed_chunks_concatenate_to_the_answer()
    {
        var updates = await Collect(Ask("When will my order ship?"));
        var chunks = updates.Where(u => u.Text is not null).Select(u => u.Text!).ToList();

        Assert.True(chunks.Count > 1, "a multi-word answer should stream in several chunks");
        Assert.Equal(Knowledge[0], string.Concat(chunks));
    }

    [Fact]
    public async Task Only_the_final_update_carries_usage_and_it_equals_the_token_counter_counts()
    {
        var request = Ask("When will my order ship?");
        var updates = await Collect(request);

        var last = updates[^1];
        Assert.Null(last.Text);
        Assert.Equal(new LlmTokenUsage(TokenCounter.CountPrompt(request.Messages), TokenCounter.Count(Knowledge[0])), last.Usage);
        Assert.All(updates[..^1], u => Assert.Null(u.Usage));
    }

    [Fact]
    public async Task The_fallback_answer_is_counted_too()
    {
        var request = Ask("What is the weather on Mars?", fallback: "Ask me about orders.");
        var usage = (await Collect(request))[^1].Usage;

        Assert.Equal(new LlmTokenUsage(TokenCounter.CountPrompt(request.Messages), TokenCounter.Count("Ask me about orders.")), usage);
    }

    [Fact]
    public async Task A_cancelled_caller_stops_the_stream()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Collect(Ask("When will my order ship?"), cts.Token));
    }
}

public class Bm25Tests
{
    [Fact]
    public void No_documents_means_no_match()
    {
        Assert.Null(Bm25.Best("order", []));
    }

    [Fact]
    public void A_document_sharing_no_term_is_never_chosen()
    {
        Assert.Null(Bm25.Best("weather forecast", ["Orders ship fast.", "Returns are free."]));
    }

    [Fact]
    public void A_rarer_shared_term_outweighs_a_common_one()
    {
        string[] docs = ["refund policy", "orders ship daily", "orders are tracked"];

        Assert.Equal(0, Bm25.Best("refund orders", docs));
    }

    [Fact]
    public void Terms_are_lower_cased_stemmed_and_free_of_stop_words()
    {
        Assert.Equal(["order", "ship", "return"], Bm25.Terms("Where are my ORDERS shipping? Returned!").ToArray());
    }
}

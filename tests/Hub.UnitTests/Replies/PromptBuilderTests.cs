using Hub.AiWorker.Replies;
using Hub.Core.Bots;
using Hub.Core.Messages;

namespace Hub.UnitTests.Replies;

public class PromptBuilderTests
{
    private static readonly string[] Knowledge = ["Orders ship within 2 business days.", "Returns are free for 30 days."];

    private static BotRecord Bot(string? instructions = "You are Support.") => new()
    {
        Id = "bot_1",
        Name = "Support",
        Instructions = instructions,
        Model = "gpt-4o-mini",
        Temperature = 0.2,
        Knowledge = BotRecord.ToJsonList(Knowledge),
        FallbackText = "I don't know that yet.",
    };

    private static MessageRecord Message(long sequence, string sender, string content) =>
        new() { Id = $"msg_{sequence}", Sequence = sequence, Sender = sender, Content = content };

    private static readonly MessageRecord[] History =
    [
        Message(1, "user", "Hi"),
        Message(2, "ai", "Hello! How can I help?"),
        Message(3, "user", "Where is my order?"),
        Message(4, "human", "Let me check."),
        Message(5, "user", "Thanks"),
    ];

    [Fact]
    public void The_bots_instructions_are_the_system_message()
    {
        var request = PromptBuilder.Build(Bot("You are Support."), History, knowledgeInPrompt: false);

        Assert.Equal(new("system", "You are Support."), request.Messages[0]);
        Assert.Single(request.Messages, m => m.Role == "system");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    public void Without_instructions_the_system_message_is_the_default(string? instructions)
    {
        var request = PromptBuilder.Build(Bot(instructions), History, knowledgeInPrompt: false);

        Assert.Equal(new("system", PromptBuilder.DefaultInstructions), request.Messages[0]);
    }

    [Fact]
    public void The_history_follows_in_order_with_user_and_assistant_roles()
    {
        var request = PromptBuilder.Build(Bot(), History, knowledgeInPrompt: false);

        Assert.Equal(
            [
                new("user", "Hi"),
                new("assistant", "Hello! How can I help?"),
                new("user", "Where is my order?"),
                new("assistant", "Let me check."),
                new("user", "Thanks"),
            ],
            request.Messages.Skip(1).ToArray());
    }

    [Fact]
    public void Knowledge_goes_into_the_system_message_only_when_asked()
    {
        var without = PromptBuilder.Build(Bot(), History, knowledgeInPrompt: false);
        var with = PromptBuilder.Build(Bot(), History, knowledgeInPrompt: true);

        Assert.DoesNotContain("Orders ship", without.Messages[0].Content);
        Assert.StartsWith("You are Support.", with.Messages[0].Content);
        Assert.All(Knowledge, k => Assert.Contains("- " + k, with.Messages[0].Content));
    }

    [Fact]
    public void Knowledge_in_the_prompt_adds_nothing_when_the_bot_has_none()
    {
        var bot = new BotRecord { Id = "bot_1", Name = "Support", Instructions = "You are Support." };

        Assert.Equal("You are Support.", PromptBuilder.Build(bot, History, knowledgeInPrompt: true).Messages[0].Content);
    }

    [Fact]
    public void The_request_carries_the_bots_model_temperature_knowledge_and_fallback()
    {
        var request = PromptBuilder.Build(Bot(), History, knowledgeInPrompt: false);

        Assert.Equal("gpt-4o-mini", request.Model);
        Assert.Equal(0.2, request.Temperature);
        Assert.Equal(Knowledge, request.Knowledge);
        Assert.Equal("I don't know that yet.", request.FallbackText);
    }
}

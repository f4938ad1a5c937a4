using Hub.AiWorker.Llm;
using Hub.Core.Bots;
using Hub.Core.Messages;

namespace Hub.AiWorker.Replies;

/// <summary>The bot's instructions as the system message, then the conversation so far.</summary>
public static class PromptBuilder
{
    public const string DefaultInstructions = "You are a helpful assistant.";

    public static LlmRequest Build(BotRecord bot, IReadOnlyList<MessageRecord> history, bool knowledgeInPrompt)
    {
        var system = string.IsNullOrWhiteSpace(bot.Instructions) ? DefaultInstructions : bot.Instructions;
        var knowledge = bot.KnowledgeList;
        if (knowledgeInPrompt && knowledge.Count > 0)
            system += "\n\nUse this knowledge when it is relevant:\n" + string.Join("\n", knowledge.Select(k => "- " + k));

        var turns = new List<ChatTurn>(history.Count + 1) { new("system", system) };
        turns.AddRange(history.Select(m => new ChatTurn(m.Sender == "user" ? "user" : "assistant", m.Content)));
        return new LlmRequest(bot.Model, bot.Temperature, turns, knowledge, bot.FallbackText, bot.HandoffOnNoAnswer);
    }
}

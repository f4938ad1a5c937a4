using Microsoft.ML.Tokenizers;

namespace Hub.AiWorker.Llm;

/// <summary>
/// Counts tokens the way OpenAI does for gpt-4o: text with the o200k_base encoding (Microsoft.ML.Tokenizers,
/// vocabulary from Microsoft.ML.Tokenizers.Data.O200kBase, so nothing is downloaded), and a chat prompt as
/// OpenAI's counting guide does for gpt-4o: each message costs <see cref="PerMessage"/> tokens of framing plus
/// its role and content, and the prompt <see cref="ReplyPriming"/> more to prime the reply. The offline provider
/// reports these counts, and the OpenAI provider uses them when the server reports no usage, so credits are the
/// same either way. Documented in the README.
/// </summary>
public static class TokenCounter
{
    public const int PerMessage = 3;
    public const int ReplyPriming = 3;

    // Built once per process (loading the 200k-entry vocabulary takes a fraction of a second); encoding is
    // thread-safe, and the tokenizer caches the pieces it has seen.
    private static readonly Lazy<Tokenizer> O200kBase = new(() => TiktokenTokenizer.CreateForEncoding("o200k_base"));

    public static Tokenizer Tokenizer => O200kBase.Value;

    public static int Count(string? text) => string.IsNullOrEmpty(text) ? 0 : O200kBase.Value.CountTokens(text);

    public static int CountPrompt(IEnumerable<ChatTurn> messages)
    {
        var tokens = ReplyPriming;
        foreach (var m in messages) tokens += PerMessage + Count(m.Role) + Count(m.Content);
        return tokens;
    }
}

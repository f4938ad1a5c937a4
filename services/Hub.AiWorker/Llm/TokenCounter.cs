using System.Text.RegularExpressions;

namespace Hub.AiWorker.Llm;

/// <summary>
/// How the offline provider counts tokens (no tokenizer package is available here, and it has no model
/// vocabulary to count against). The rule, documented in the README:
/// every run of letters, every run of digits and every other non-space character is one token; a run
/// longer than 8 characters counts one more token per further 8 (long words split into sub-words in
/// BPE vocabularies); each chat message adds 4 tokens of framing and a prompt adds 3 more to prime the
/// reply, as OpenAI's own counting guide does for chat models.
/// </summary>
public static partial class TokenCounter
{
    public const int PerMessage = 4;
    public const int ReplyPriming = 3;

    // A surrogate pair (an emoji, say) is one character, not two.
    [GeneratedRegex(@"\p{L}+|\p{N}+|[\uD800-\uDBFF][\uDC00-\uDFFF]|[^\s\p{L}\p{N}]")]
    private static partial Regex Pieces();

    public static int Count(string? text)
    {
        if (string.IsNullOrEmpty(text)) return 0;
        var tokens = 0;
        foreach (var match in Pieces().EnumerateMatches(text))
            tokens += 1 + (match.Length - 1) / 8;
        return tokens;
    }

    public static int CountPrompt(IEnumerable<ChatTurn> messages) =>
        messages.Sum(m => PerMessage + Count(m.Content)) + ReplyPriming;
}

using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;

namespace Hub.AiWorker.Llm;

/// <summary>
/// The embedded default when no LLM is configured: answers the last user message with the bot's best
/// matching <c>knowledge</c> entry (Okapi BM25 over the entries), or with its <c>fallback_text</c> when
/// nothing matches. Deterministic, offline, and honest about tokens (see <see cref="TokenCounter"/>).
/// </summary>
public sealed partial class OfflineProvider : ILlmProvider
{
    public const string DefaultFallback = "I don't know that yet.";

    public string Name => "offline";

    public string ModelFor(LlmRequest request) => "offline";

    public async IAsyncEnumerable<LlmUpdate> StreamAsync(LlmRequest request, [EnumeratorCancellation] CancellationToken ct)
    {
        var question = request.Messages.LastOrDefault(m => m.Role == "user")?.Content ?? "";
        var found = Answer(question, request.Knowledge);
        if (found is null && request.HandoffOnNoAnswer)
        {
            yield return new LlmUpdate(null, new LlmTokenUsage(TokenCounter.CountPrompt(request.Messages), 0), Handoff: true, HandoffReason: "no answer");
            yield break;
        }
        var answer = found ?? (string.IsNullOrWhiteSpace(request.FallbackText) ? DefaultFallback : request.FallbackText);

        foreach (Match word in Words().Matches(answer))
        {
            ct.ThrowIfCancellationRequested();
            yield return new LlmUpdate(word.Value);
        }
        await Task.CompletedTask;
        yield return new LlmUpdate(null, new LlmTokenUsage(TokenCounter.CountPrompt(request.Messages), TokenCounter.Count(answer)));
    }

    /// <summary>The best knowledge entry for <paramref name="question"/>, or null when none shares a meaningful term.</summary>
    public static string? Answer(string question, IReadOnlyList<string> knowledge)
    {
        var best = Bm25.Best(question, knowledge);
        return best is { } b ? knowledge[b] : null;
    }

    [GeneratedRegex(@"(?:^\s+)?\S+\s*")]
    private static partial Regex Words();
}

/// <summary>Okapi BM25 (k1 = 1.2, b = 0.75) over short documents, with light stemming and stop words.</summary>
public static partial class Bm25
{
    private const double K1 = 1.2;
    private const double B = 0.75;

    private static readonly HashSet<string> StopWords =
    [
        "a", "an", "the", "and", "or", "but", "is", "are", "was", "were", "be", "been", "do", "does", "did",
        "i", "me", "my", "you", "your", "we", "our", "it", "its", "he", "she", "they", "them", "this", "that",
        "to", "of", "in", "on", "at", "for", "with", "by", "from", "as", "can", "could", "would", "should",
        "will", "what", "when", "where", "which", "who", "how", "why", "there", "here", "have", "has", "had",
        "not", "no", "yes", "if", "so", "please", "hi", "hello", "about", "any", "some", "am", "get",
    ];

    /// <summary>Index of the highest-scoring document, or null when no document shares a term.</summary>
    public static int? Best(string query, IReadOnlyList<string> documents)
    {
        if (documents.Count == 0) return null;
        var terms = Terms(query).Distinct().ToList();
        if (terms.Count == 0) return null;

        var docs = documents.Select(d => Terms(d).ToList()).ToList();
        var averageLength = Math.Max(1, docs.Average(d => d.Count));
        int? best = null;
        var bestScore = 0d;
        for (var i = 0; i < docs.Count; i++)
        {
            var score = 0d;
            foreach (var term in terms)
            {
                var tf = docs[i].Count(t => t == term);
                if (tf == 0) continue;
                var df = docs.Count(d => d.Contains(term));
                var idf = Math.Log(1 + (docs.Count - df + 0.5) / (df + 0.5));
                score += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * docs[i].Count / averageLength));
            }
            if (score > bestScore) { bestScore = score; best = i; }
        }
        return best;
    }

    public static IEnumerable<string> Terms(string text) =>
        Tokens().Matches(text.ToLowerInvariant())
            .Select(m => m.Value)
            .Where(t => !StopWords.Contains(t))
            .Select(Stem);

    // Enough stemming that "orders"/"order", "shipping"/"ship" and "returned"/"return" meet.
    private static string Stem(string word)
    {
        if (word.Length > 5 && word.EndsWith("ing")) word = word[..^3];
        else if (word.Length > 4 && word.EndsWith("ed")) word = word[..^2];
        else if (word.Length > 4 && word.EndsWith("es") && !word.EndsWith("ses")) word = word[..^1];
        if (word.Length > 3 && word.EndsWith('s') && !word.EndsWith("ss")) word = word[..^1];
        if (word.Length > 3 && word[^1] == word[^2] && !"aeiouls".Contains(word[^1])) word = word[..^1];
        return word;
    }

    [GeneratedRegex(@"[\p{L}\p{N}]+")]
    private static partial Regex Tokens();
}

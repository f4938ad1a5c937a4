using System.Text.RegularExpressions;

namespace Hub.Core.Conversations;

/// <summary>A bot's <c>handoff.keywords</c>: a user message containing one as a whole word (any case) goes to people.</summary>
public static class HandoffKeywords
{
    public static bool Match(string content, IEnumerable<string> keywords) => FirstMatch(content, keywords) is not null;

    /// <summary>The first keyword the content contains (as configured, trimmed), or null: the handoff's reason names it.</summary>
    public static string? FirstMatch(string content, IEnumerable<string> keywords) =>
        keywords.FirstOrDefault(k => !string.IsNullOrWhiteSpace(k) && Regex.IsMatch(content,
            $@"(?<![\p{{L}}\p{{N}}_]){Regex.Escape(k.Trim())}(?![\p{{L}}\p{{N}}_])",
            RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100)))?.Trim();
}

namespace Hub.Api.Messages;

/// <summary>
/// The contract's limit on message text, for user messages and agents' replies alike: 32,000 characters,
/// counted as Unicode scalar values (what <see cref="System.Text.Rune"/> enumerates: "é", "中" and "😀" are one
/// each; an unpaired surrogate counts as one). Not UTF-16 code units, which count every emoji twice, and not
/// grapheme clusters, whose boundaries move with each Unicode version (a family emoji is several scalars).
/// </summary>
public static class MessageContent
{
    public const int MaxCharacters = 32_000;

    public static bool IsTooLong(string text) =>
        text.Length > MaxCharacters && CountCharacters(text) > MaxCharacters; // scalars never outnumber UTF-16 units

    public static int CountCharacters(string text)
    {
        var count = text.Length;
        for (var i = 0; i < text.Length - 1; i++)
        {
            if (char.IsHighSurrogate(text[i]) && char.IsLowSurrogate(text[i + 1]))
            {
                count--;
                i++;
            }
        }
        return count;
    }
}

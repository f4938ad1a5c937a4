using System.Buffers.Text;
using System.Text;
using Hub.Api.Errors;

namespace Hub.Api.Paging;

/// <summary>
/// Opaque cursors over an immutable, increasing key (a conversation's creation order, a message's
/// sequence): paging never skips or repeats a row however rows change meanwhile.
/// </summary>
public static class Cursor
{
    public static string Encode(string kind, long position) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes($"{kind}:{position}"));

    /// <summary>The position after which to continue; 0 without a cursor. A cursor of another kind or a garbled one is a 400.</summary>
    public static long Decode(string kind, string? cursor)
    {
        if (string.IsNullOrEmpty(cursor)) return 0;
        try
        {
            var text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(cursor));
            if (text.StartsWith(kind + ":", StringComparison.Ordinal) && long.TryParse(text.AsSpan(kind.Length + 1), out var position) && position >= 0)
                return position;
        }
        catch (FormatException) { }
        throw HubProblemException.Validation("cursor", "cursor is not one this list returned.");
    }

    public static int Limit(string? limit, int fallback = 20, int max = 100)
    {
        if (string.IsNullOrEmpty(limit)) return fallback;
        if (int.TryParse(limit, out var value) && value >= 1 && value <= max) return value;
        throw HubProblemException.Validation("limit", $"limit must be a whole number from 1 to {max}.");
    }

    public static long? Time(string field, string? value)
    {
        if (string.IsNullOrEmpty(value)) return null;
        if (TryParseTime(value, out var time)) return time.ToUnixTimeMilliseconds();
        throw HubProblemException.Validation(field, $"{field} must be an RFC 3339 time, e.g. 2026-11-21T09:00:00Z.");
    }

    /// <summary>
    /// An RFC 3339 time (no offset means UTC). False, not an exception, for a time whose UTC instant lies
    /// outside what DateTimeOffset holds (0001-01-01T00:00:00+01:00, 9999-12-31T23:59:59-01:00).
    /// </summary>
    public static bool TryParseTime(string value, out DateTimeOffset time)
    {
        try
        {
            return DateTimeOffset.TryParse(value, System.Globalization.CultureInfo.InvariantCulture,
                System.Globalization.DateTimeStyles.AssumeUniversal, out time);
        }
        catch (ArgumentOutOfRangeException)
        {
            time = default;
            return false;
        }
    }
}

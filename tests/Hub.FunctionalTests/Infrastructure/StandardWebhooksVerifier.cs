using System.Security.Cryptography;
using System.Text;

namespace Hub.TestSupport;

/// <summary>
/// A receiver's side of Standard Webhooks (https://www.standardwebhooks.com), written from the spec and
/// independent of the code under test (it never calls Hub's WebhookSignature): the signed content is
/// <c>"{webhook-id}.{webhook-timestamp}.{body}"</c> with the body's exact bytes, the key is the
/// base64-decoded part of the secret after <c>whsec_</c>, the MAC is HMAC-SHA256, and the header holds
/// space-separated <c>v1,&lt;base64&gt;</c> entries, any of which may match.
/// Also linked into Hub.UnitTests, where it is held against the spec's published vector.
/// </summary>
public static class StandardWebhooksVerifier
{
    /// <summary>The spec's default tolerance between the timestamp and the receiver's clock.</summary>
    public static readonly TimeSpan Tolerance = TimeSpan.FromMinutes(5);

    public static byte[] Key(string secret)
    {
        const string prefix = "whsec_";
        var encoded = secret.StartsWith(prefix, StringComparison.Ordinal) ? secret.Substring(prefix.Length) : secret;
        return Convert.FromBase64String(encoded);
    }

    /// <summary>The <c>v1,…</c> signature of one message under one secret.</summary>
    public static string Sign(string secret, string id, string timestamp, byte[] body)
    {
        using var hmac = new HMACSHA256(Key(secret));
        var head = Encoding.UTF8.GetBytes(id + "." + timestamp + ".");
        hmac.TransformBlock(head, 0, head.Length, null, 0);
        hmac.TransformFinalBlock(body, 0, body.Length);
        return "v1," + Convert.ToBase64String(hmac.Hash!);
    }

    /// <summary>The entries of a <c>webhook-signature</c> header, in order.</summary>
    public static IReadOnlyList<string> Signatures(string header) =>
        header.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>True when one of the header's <c>v1</c> signatures is the one <paramref name="secret"/> gives.</summary>
    public static bool Verify(string secret, string id, string timestamp, byte[] body, string signatureHeader)
    {
        var expected = Encoding.ASCII.GetBytes(Sign(secret, id, timestamp, body));
        return Signatures(signatureHeader).Any(s => s.StartsWith("v1,", StringComparison.Ordinal)
            && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(s), expected));
    }

    /// <summary>True when the timestamp is Unix seconds within <see cref="Tolerance"/> of <paramref name="now"/>.</summary>
    public static bool TimestampIsFresh(string timestamp, DateTimeOffset now) =>
        long.TryParse(timestamp, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
        && (now - DateTimeOffset.FromUnixTimeSeconds(seconds)).Duration() <= Tolerance;
}

using System.Security.Cryptography;

namespace Hub.Core.Hosting;

/// <summary>Opaque, time-ordered IDs with a type prefix (<c>conv_…</c>, <c>msg_…</c>) and random secrets.</summary>
public static class Ids
{
    public static string New(string prefix) => $"{prefix}_{Guid.CreateVersion7():N}";

    /// <summary>A URL-safe random token of <paramref name="bytes"/> bytes.</summary>
    public static string RandomToken(int bytes) =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(bytes)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>API keys are long random tokens, so a fast hash is enough (passwords get a slow one).</summary>
    public static string HashKey(string key) =>
        Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)));
}

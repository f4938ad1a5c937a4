using System.Security.Cryptography;
using System.Text;
using Dapper;
using Hub.Core.Data;
using Hub.Core.Hosting;
using Microsoft.Extensions.Options;

namespace Hub.Api.Auth;

/// <summary>
/// The admin bearer key: <c>HUB_ADMIN_KEY</c> as-is when set; otherwise one generated at first start,
/// printed once, and kept only as a hash in <c>settings</c>.
/// </summary>
public sealed class AdminKey(IOptions<HubOptions> options, HubDb db, ILogger<AdminKey> logger) : IHostedService
{
    private byte[] _hash = [];

    public bool Matches(string presented) =>
        _hash.Length > 0 && CryptographicOperations.FixedTimeEquals(Hash(presented), _hash);

    public async Task StartAsync(CancellationToken ct)
    {
        if (!string.IsNullOrEmpty(options.Value.AdminKey))
        {
            _hash = Hash(options.Value.AdminKey);
            return;
        }

        await using var c = await db.OpenAsync(ct);
        var stored = await c.QuerySingleOrDefaultAsync<string>("SELECT value FROM settings WHERE name = 'admin_key_hash'");
        if (stored is null)
        {
            var key = "hub_admin_" + Ids.RandomToken(32);
            try
            {
                await db.ExecuteAsync("INSERT INTO settings (name, value) VALUES ('admin_key_hash', @hash)",
                    new { hash = Convert.ToHexStringLower(Hash(key)) }, ct);
                Console.WriteLine($"""

                    ================================================================
                     Hub admin key (shown once; set HUB_ADMIN_KEY to choose your own):
                       {key}
                    ================================================================

                    """);
                logger.LogWarning("Generated an admin key; it was printed once to the console and is stored hashed.");
                _hash = Hash(key);
                return;
            }
            catch (System.Data.Common.DbException e) when (db.Dialect.IsUniqueViolation(e))
            {
                // Another process generated it first; theirs stands.
                stored = await c.QuerySingleAsync<string>("SELECT value FROM settings WHERE name = 'admin_key_hash'");
            }
        }
        _hash = Convert.FromHexString(stored);
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;

    private static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}

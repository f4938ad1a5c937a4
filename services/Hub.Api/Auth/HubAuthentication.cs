using System.Security.Claims;
using System.Text.Encodings.Web;
using Dapper;
using Hub.Api.Errors;
using Hub.Core.Data;
using Hub.Core.Hosting;
using Hub.Core.Redis;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Hub.Api.Auth;

public static class HubClaims
{
    public const string Scheme = "HubKey";
    public const string BotIdClaim = "hub:bot_id";
    public const string KeyId = "hub:key_id";
    public const string AdminRole = "admin";
    public const string AgentRole = "agent";
    public const string AgentIdClaim = "hub:agent_id";
    public const string AgentNameClaim = "hub:agent_name";
    /// <summary>One claim per bot an agent is limited to; none means every bot.</summary>
    public const string AgentBotClaim = "hub:agent_bot";
    /// <summary>The hash of an agent's session token, so that a long-lived connection can check the session still stands.</summary>
    public const string SessionClaim = "hub:session";
    public const string SessionCookie = "hub_session";
    public const string SessionTokenPrefix = "hub_at_";

    public static bool IsAdmin(this ClaimsPrincipal user) => user.IsInRole(AdminRole);
    public static string? BotId(this ClaimsPrincipal user) => user.FindFirstValue(BotIdClaim);
    public static string? AgentId(this ClaimsPrincipal user) => user.FindFirstValue(AgentIdClaim);
    public static string AgentName(this ClaimsPrincipal user) => user.FindFirstValue(AgentNameClaim) ?? "Agent";

    /// <summary>
    /// Which bot's data the caller may touch: any for the admin (key or admin agent), its own for a bot key,
    /// the listed bots for an agent (all when none are listed).
    /// </summary>
    public static bool MaySee(this ClaimsPrincipal user, string botId)
    {
        if (user.IsAdmin()) return true;
        if (user.BotId() is { } own) return own == botId;
        if (user.AgentId() is null) return false;
        var scope = user.FindAll(AgentBotClaim).ToList();
        return scope.Count == 0 || scope.Any(c => c.Value == botId);
    }

    /// <summary>The bots an agent is limited to, or null when it may see every bot.</summary>
    public static IReadOnlyList<string>? AgentScope(this ClaimsPrincipal user) =>
        user.IsAdmin() || !user.HasClaim(c => c.Type == AgentBotClaim) ? null : user.FindAll(AgentBotClaim).Select(c => c.Value).ToList();

    /// <summary>What the rate limiter counts against: the key, never a shared bucket.</summary>
    public static string RateLimitPartition(this ClaimsPrincipal user) =>
        user.FindFirstValue(KeyId) ?? (user.IsAdmin() ? "admin" : "anonymous");
}

/// <summary>
/// Bot keys by hash, as the authentication handler reads them on every request. A key deleted here (or with
/// its bot) is refused at once; with Redis every other API process drops its keys as soon as it hears so
/// (<see cref="ICacheEvictions"/>), without Redis it goes on accepting the key for up to <c>HUB_CACHE_SECONDS</c>
/// (default 3), until its entry expires. Unknown keys are not kept, so a new key works at once everywhere.
/// </summary>
public sealed class BotKeyCache
{
    public sealed record BotKey(string Id, string BotId);

    private const string Name = "bot-keys";
    private readonly HubDb _db;
    private readonly ICacheEvictions _evictions;
    private readonly ShortLivedCache<string, BotKey> _keys;

    public BotKeyCache(HubDb db, IOptions<HubOptions> options, ICacheEvictions evictions)
    {
        _db = db;
        _evictions = evictions;
        _keys = new(TimeSpan.FromSeconds(options.Value.CacheSeconds));
        evictions.Subscribe(Name, _ => _keys.Clear());
    }

    public Task<BotKey?> FindAsync(string keyHash, CancellationToken ct) =>
        _keys.GetOrLoadAsync(keyHash, (_db, ct), static async (hash, s) =>
        {
            await using var c = await s._db.OpenAsync(s.ct);
            return await c.QuerySingleOrDefaultAsync<BotKey>(
                new CommandDefinition("SELECT id AS Id, bot_id AS BotId FROM bot_keys WHERE key_hash = @hash", new { hash }, cancellationToken: s.ct));
        });

    /// <summary>After a key (or a bot with its keys) is deleted: keys are deleted rarely, so all are read again.</summary>
    public void Clear()
    {
        _keys.Clear();
        _evictions.Announce(Name, null);
    }
}

/// <summary>
/// <c>Authorization: Bearer …</c> with either the admin key or a bot key (stored as a SHA-256 hash).
/// 401 and 403 are written as the contract's problem+json.
/// </summary>
public sealed class HubKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    AdminKey adminKey,
    BotKeyCache keys,
    HubDb db) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        string? token;
        if (!string.IsNullOrEmpty(header))
        {
            if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
                return AuthenticateResult.Fail("Use Authorization: Bearer <key>.");
            token = header["Bearer ".Length..].Trim();
        }
        else
        {
            // The inbox: SignalR sends its token as ?access_token= (browsers cannot set headers on WebSockets),
            // and the page itself rides on the session cookie set at login.
            token = Request.Path.StartsWithSegments("/hubs") ? Request.Query["access_token"].FirstOrDefault() : null;
            token ??= Request.Cookies[HubClaims.SessionCookie];
            if (string.IsNullOrEmpty(token)) return AuthenticateResult.NoResult();
        }
        if (token.Length == 0 || token.Length > 512) return AuthenticateResult.Fail("Invalid key.");

        if (token.StartsWith(HubClaims.SessionTokenPrefix, StringComparison.Ordinal))
            return await AgentSessionAsync(token);

        if (adminKey.Matches(token))
            return Success(new Claim(ClaimTypes.Role, HubClaims.AdminRole), new Claim(HubClaims.KeyId, "admin"));

        var key = await keys.FindAsync(Ids.HashKey(token), Context.RequestAborted);
        return key is not null
            ? Success(new Claim(HubClaims.BotIdClaim, key.BotId), new Claim(HubClaims.KeyId, key.Id), new Claim(ClaimTypes.Role, "bot"))
            : AuthenticateResult.Fail("Invalid key.");
    }

    private async Task<AuthenticateResult> AgentSessionAsync(string token)
    {
        await using var c = await db.OpenAsync(Context.RequestAborted);
        var agent = await c.QuerySingleOrDefaultAsync<Agents.AgentRecord>(
            """
            SELECT a.* FROM agent_sessions s JOIN agents a ON a.id = s.agent_id
            WHERE s.token_hash = @hash AND s.expires_at > @now
            """, new { hash = Ids.HashKey(token), now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() });
        if (agent is null) return AuthenticateResult.Fail("The session has ended; log in again.");

        var claims = new List<Claim>
        {
            new(ClaimTypes.Role, HubClaims.AgentRole),
            new(HubClaims.AgentIdClaim, agent.Id),
            new(HubClaims.AgentNameClaim, agent.Name),
            new(HubClaims.KeyId, "agent:" + agent.Id),
            new(HubClaims.SessionClaim, Ids.HashKey(token)),
        };
        if (agent.Role == HubClaims.AdminRole) claims.Add(new(ClaimTypes.Role, HubClaims.AdminRole));
        claims.AddRange(agent.BotIdList.Select(b => new Claim(HubClaims.AgentBotClaim, b)));
        return Success([.. claims]);
    }

    private AuthenticateResult Success(params Claim[] claims) =>
        AuthenticateResult.Success(new AuthenticationTicket(
            new ClaimsPrincipal(new ClaimsIdentity(claims, HubClaims.Scheme)), HubClaims.Scheme));

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        return Write(401, "unauthorized", "Send a valid key as Authorization: Bearer <key>.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Write(403, "forbidden", "This key may not do that.");

    private Task Write(int status, string code, string detail) =>
        HubProblem.Of(status, code, detail).ExecuteAsync(Context);
}

public static class AuthExtensions
{
    public const string AdminPolicy = "admin";
    public const string ClientPolicy = "client";
    public const string ReaderPolicy = "reader";
    public const string AgentPolicy = "agent";

    public static IHostApplicationBuilder AddHubAuth(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<LoginOptions>().BindConfiguration("").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<PasswordHashing>();
        builder.AddTrustedProxies();
        builder.Services.AddSingleton<LoginThrottle>();
        builder.Services.AddSingleton<AdminKey>();
        builder.Services.AddSingleton<BotKeyCache>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AdminKey>());
        builder.Services.AddAuthentication(HubClaims.Scheme)
            .AddScheme<AuthenticationSchemeOptions, HubKeyAuthenticationHandler>(HubClaims.Scheme, null);
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(AdminPolicy, p => p.RequireRole(HubClaims.AdminRole))
            .AddPolicy(ClientPolicy, p => p.RequireRole(HubClaims.AdminRole, "bot"))
            .AddPolicy(ReaderPolicy, p => p.RequireRole(HubClaims.AdminRole, "bot", HubClaims.AgentRole))
            .AddPolicy(AgentPolicy, p => p.RequireRole(HubClaims.AgentRole));
        return builder;
    }
}

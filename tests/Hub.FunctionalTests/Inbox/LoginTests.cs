using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Hub.Api.Auth;
using Hub.FunctionalTests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Hub.FunctionalTests.Inbox;

/// <summary>A hub with small login limits (3 failures per (email, address), 6 per address, in 60 s) and a trusted proxy range.</summary>
public sealed class LoginHubFixture : InboxHubFixture
{
    public const int MaxFailures = 3;
    public const int MaxFailuresPerAddress = 6;
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(60);
    public const string ProxyRange = "10.99.0.0/16";

    protected override Task<IDictionary<string, string?>> ExtraSettingsAsync() => Task.FromResult<IDictionary<string, string?>>(new Dictionary<string, string?>
    {
        ["HUB_LOGIN_MAX_FAILURES"] = MaxFailures.ToString(),
        ["HUB_LOGIN_MAX_FAILURES_PER_IP"] = MaxFailuresPerAddress.ToString(),
        ["HUB_LOGIN_WINDOW_SECONDS"] = ((int)Window.TotalSeconds).ToString(),
        ["HUB_TRUSTED_PROXIES"] = ProxyRange + ", 192.0.2.1",
    });
}

/// <summary>
/// Logging in: the same work whether the email exists or not, failures limited per (email, address) and per
/// address with 429 + Retry-After, a bounded number of password hashes at once, and a session cookie that is
/// Secure behind a trusted TLS-terminating proxy only. Each test logs in from its own client address.
/// </summary>
public sealed class LoginTests(LoginHubFixture fixture) : IClassFixture<LoginHubFixture>
{
    private readonly HubFixture _hub = fixture.Hub;
    private static int _nextAddress;

    private static string NewAddress()
    {
        var n = Interlocked.Increment(ref _nextAddress);
        return $"198.18.{n / 250}.{n % 250 + 1}";
    }

    private sealed record LoginResponse(int Status, IHeaderDictionary Headers, JsonObject? Body);

    /// <summary>POST /v1/auth/login as if from <paramref name="address"/> (TestServer lets the test choose the peer).</summary>
    private Task<LoginResponse> LoginAsync(string email, string password, string address, Action<HttpContext>? configure = null) =>
        LoginAsync(_hub, email, password, address, configure);

    private static async Task<LoginResponse> LoginAsync(HubFixture hub, string email, string password, string address, Action<HttpContext>? configure = null)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new { email, password });
        var context = await hub.Server.SendAsync(c =>
        {
            c.Request.Method = "POST";
            c.Request.Path = "/v1/auth/login";
            c.Request.ContentType = "application/json";
            c.Request.ContentLength = body.Length;
            c.Request.Body = new MemoryStream(body);
            c.Connection.RemoteIpAddress = IPAddress.Parse(address);
            configure?.Invoke(c);
        });
        var text = await new StreamReader(context.Response.Body, Encoding.UTF8).ReadToEndAsync();
        return new LoginResponse(context.Response.StatusCode, context.Response.Headers, text.Length == 0 ? null : JsonNode.Parse(text)!.AsObject());
    }

    private async Task<Agent> NewAgentAsync() => await _hub.CreateAgentAsync([(await _hub.CreateInboxBotAsync()).Id]);

    [Fact]
    public async Task An_unknown_email_does_the_same_password_work_as_a_wrong_password()
    {
        var agent = await NewAgentAsync();
        var hashing = _hub.Services.GetRequiredService<PasswordHashing>();
        var address = NewAddress();

        var before = hashing.Verifications;
        var wrongPassword = await LoginAsync(agent.Email, "not the password", address);
        var afterWrongPassword = hashing.Verifications;
        var unknownEmail = await LoginAsync($"nobody-{Guid.NewGuid():N}@example.com", "not the password", address);
        var afterUnknownEmail = hashing.Verifications;

        Assert.Equal(401, wrongPassword.Status);
        Assert.Equal(401, unknownEmail.Status);
        Assert.Equal(1, afterWrongPassword - before);
        Assert.Equal(1, afterUnknownEmail - afterWrongPassword);
        // The same answer, word for word; only the trace each request belongs to differs.
        Assert.Equal(WithoutTraceId(wrongPassword.Body!), WithoutTraceId(unknownEmail.Body!));
    }

    private static string WithoutTraceId(System.Text.Json.Nodes.JsonObject problem)
    {
        var copy = problem.DeepClone().AsObject();
        Assert.Matches("^[0-9a-f]{32}$", copy.Str("trace_id"));
        copy.Remove("trace_id");
        return copy.ToJsonString();
    }

    [Fact]
    public async Task Wrong_passwords_past_the_limit_answer_429_with_Retry_After_even_with_the_right_password()
    {
        var agent = await NewAgentAsync();
        var address = NewAddress();
        for (var i = 0; i < LoginHubFixture.MaxFailures; i++)
            Assert.Equal(401, (await LoginAsync(agent.Email, $"guess {i}", address)).Status);

        var limited = await LoginAsync(agent.Email, agent.Password, address);

        Assert.Equal(429, limited.Status);
        Assert.Equal("rate_limited", limited.Body!.Str("code"));
        var retryAfter = int.Parse(limited.Headers.RetryAfter.ToString());
        Assert.InRange(retryAfter, 1, (int)LoginHubFixture.Window.TotalSeconds);
        // Another address is not the one guessing: it logs in.
        Assert.Equal(200, (await LoginAsync(agent.Email, agent.Password, NewAddress())).Status);
    }

    [Fact]
    public async Task A_correct_login_succeeds_once_the_limit_window_has_passed()
    {
        // Its own hub: one failure closes a 3-second window, short enough to wait out.
        var settings = InboxKit.Settings();
        settings["HUB_LOGIN_MAX_FAILURES"] = "1";
        settings["HUB_LOGIN_WINDOW_SECONDS"] = "3";
        await using var hub = HubFixture.With(settings);
        var agent = await hub.CreateAgentAsync([(await hub.CreateInboxBotAsync()).Id]);
        var address = NewAddress();
        Assert.Equal(401, (await LoginAsync(hub, agent.Email, "a guess", address)).Status);
        Assert.Equal(429, (await LoginAsync(hub, agent.Email, agent.Password, address)).Status);

        await Task.Delay(TimeSpan.FromSeconds(3.3));
        var response = await LoginAsync(hub, agent.Email, agent.Password, address);

        Assert.Equal(200, response.Status);
        Assert.StartsWith("hub_at_", response.Body!.Str("access_token"));
    }

    [Fact]
    public async Task A_successful_login_resets_the_failure_count()
    {
        var agent = await NewAgentAsync();
        var address = NewAddress();
        for (var i = 0; i < LoginHubFixture.MaxFailures - 1; i++) await LoginAsync(agent.Email, $"guess {i}", address);
        Assert.Equal(200, (await LoginAsync(agent.Email, agent.Password, address)).Status);

        for (var i = 0; i < LoginHubFixture.MaxFailures - 1; i++)
            Assert.Equal(401, (await LoginAsync(agent.Email, $"again {i}", address)).Status);

        Assert.Equal(200, (await LoginAsync(agent.Email, agent.Password, address)).Status);
    }

    [Fact]
    public async Task One_address_trying_many_emails_is_limited_too()
    {
        var agent = await NewAgentAsync();
        var address = NewAddress();
        for (var i = 0; i < LoginHubFixture.MaxFailuresPerAddress; i++)
            Assert.Equal(401, (await LoginAsync($"sprayed-{i}-{Guid.NewGuid():N}@example.com", "Winter2026!", address)).Status);

        var limited = await LoginAsync(agent.Email, agent.Password, address);

        Assert.Equal(429, limited.Status);
        Assert.Equal("rate_limited", limited.Body!.Str("code"));
        Assert.True(limited.Headers.ContainsKey("Retry-After"));
    }

    [Fact]
    public async Task Password_hashes_beyond_the_bound_are_refused_with_503_instead_of_queueing_forever()
    {
        var hashing = new PasswordHashing(Options.Create(new LoginOptions { MaxConcurrentHashes = 1, HashWaitMilliseconds = 0 }));
        var agent = new Hub.Api.Agents.AgentRecord { PasswordHash = await hashing.HashAsync(new(), "the password", default) };

        // The first takes the only slot at once (an available semaphore is taken synchronously); the rest find it
        // held, for a PBKDF2 verification lasts tens of milliseconds.
        var attempts = Enumerable.Range(0, 4).Select(_ => hashing.VerifyAsync(agent, "the password", default)).ToList();
        var outcomes = await Task.WhenAll(attempts.Select(async a =>
        {
            try { return await a ? "ok" : "wrong"; }
            catch (Hub.Api.Errors.HubProblemException e) { return $"{e.Status} {e.Code} retry-after {e.RetryAfterSeconds}"; }
        }));

        Assert.Equal("ok", outcomes[0]);
        Assert.All(outcomes[1..], o => Assert.Equal("503 unavailable retry-after 1", o));
    }

    [Fact]
    public async Task Over_plain_http_the_session_cookie_is_HttpOnly_and_SameSite_but_not_Secure()
    {
        var agent = await NewAgentAsync();

        var response = await LoginAsync(agent.Email, agent.Password, NewAddress());

        var cookie = Assert.Single(response.Headers.SetCookie.ToArray());
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("secure", cookie.Replace("samesite", ""), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Behind_a_trusted_TLS_proxy_the_session_cookie_is_Secure()
    {
        var agent = await NewAgentAsync();

        var response = await LoginAsync(agent.Email, agent.Password, "10.99.3.4", c =>
        {
            c.Request.Headers["X-Forwarded-Proto"] = "https";
            c.Request.Headers["X-Forwarded-For"] = "203.0.113.50";
        });

        Assert.Equal(200, response.Status);
        var cookie = Assert.Single(response.Headers.SetCookie.ToArray());
        Assert.Contains("; secure", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_forged_X_Forwarded_Proto_from_an_untrusted_address_changes_nothing()
    {
        var agent = await NewAgentAsync();

        var response = await LoginAsync(agent.Email, agent.Password, "198.51.100.9", c =>
        {
            c.Request.Headers["X-Forwarded-Proto"] = "https";
            c.Request.Headers["X-Forwarded-For"] = "203.0.113.51";
        });

        Assert.Equal(200, response.Status);
        var cookie = Assert.Single(response.Headers.SetCookie.ToArray());
        Assert.DoesNotContain("secure", cookie.Replace("samesite", ""), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Behind_a_trusted_proxy_failures_count_against_the_forwarded_client_address()
    {
        var agent = await NewAgentAsync();
        var client = NewAddress();
        void ViaProxy(HttpContext c) => c.Request.Headers["X-Forwarded-For"] = client;
        for (var i = 0; i < LoginHubFixture.MaxFailures; i++) await LoginAsync(agent.Email, $"guess {i}", "10.99.0.7", ViaProxy);

        var sameClient = await LoginAsync(agent.Email, agent.Password, "10.99.0.8", ViaProxy);
        var otherClient = await LoginAsync(agent.Email, agent.Password, "10.99.0.8", c => c.Request.Headers["X-Forwarded-For"] = NewAddress());

        Assert.Equal(429, sameClient.Status);
        Assert.Equal(200, otherClient.Status);
    }

    [Fact]
    public async Task Trusted_proxies_that_are_not_addresses_stop_the_start()
    {
        var errors = new TrustedProxyOptions { TrustedProxies = "10.0.0.0/8, proxy.example, 300.1.1.1" }
            .Validate(new System.ComponentModel.DataAnnotations.ValidationContext(new object())).ToList();

        var error = Assert.Single(errors);
        Assert.Contains("proxy.example", error.ErrorMessage);
        Assert.Contains("300.1.1.1", error.ErrorMessage);
        Assert.Empty(new TrustedProxyOptions { TrustedProxies = "10.0.0.0/8, 192.0.2.1, ::1" }.Validate(new(new object())));
        await Task.CompletedTask;
    }
}

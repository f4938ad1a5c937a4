using System.Net;
using System.Net.Http.Json;
using Hub.FunctionalTests.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Data.Sqlite;

namespace Hub.FunctionalTests.Inbox;

/// <summary>Agents (admin only), login and logout, hashed passwords, and agents scoped to bots.</summary>
public sealed class AgentsTests(InboxHubFixture fixture) : IClassFixture<InboxHubFixture>
{
    private readonly HubFixture _hub = fixture.Hub;

    private static string NewEmail() => $"person-{Guid.NewGuid():N}@example.com";

    [Fact]
    public async Task The_admin_creates_lists_reads_updates_and_deletes_agents()
    {
        var bot = await _hub.CreateInboxBotAsync();
        using var admin = _hub.Admin();
        var email = NewEmail();

        var created = await admin.PostAsJsonAsync("/v1/agents", new { email, name = "Ada", password = "s3cret-passw0rd", role = "agent", bot_ids = new[] { bot.Id } });

        await created.AssertStatusAsync(HttpStatusCode.Created);
        var agent = await created.JsonAsync();
        var id = agent.Str("id");
        Assert.Equal($"/v1/agents/{id}", created.Headers.Location?.OriginalString);
        Assert.Equal(email, agent.Str("email"));
        Assert.Equal("Ada", agent.Str("name"));
        Assert.Equal("agent", agent.Str("role"));
        Assert.Equal([bot.Id], agent["bot_ids"]!.AsArray().Select(b => b!.GetValue<string>()));
        Assert.Null(agent["password"]);
        Assert.Null(agent["password_hash"]);

        var list = await (await admin.GetAsync("/v1/agents")).JsonAsync();
        Assert.Contains(list["data"]!.AsArray(), a => a!.Str("id") == id);
        Assert.DoesNotContain("password", list.ToJsonString());
        Assert.Equal("Ada", (await (await admin.GetAsync($"/v1/agents/{id}")).JsonAsync()).Str("name"));

        var patched = await admin.PatchAsJsonAsync($"/v1/agents/{id}", new { name = "Ada L.", role = "admin", bot_ids = Array.Empty<string>() });
        await patched.AssertStatusAsync(HttpStatusCode.OK);
        var updated = await patched.JsonAsync();
        Assert.Equal("Ada L.", updated.Str("name"));
        Assert.Equal("admin", updated.Str("role"));
        Assert.Empty(updated["bot_ids"]!.AsArray());
        Assert.Equal(email, updated.Str("email"));

        await (await admin.DeleteAsync($"/v1/agents/{id}")).AssertStatusAsync(HttpStatusCode.NoContent);
        await (await admin.GetAsync($"/v1/agents/{id}")).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        await (await admin.DeleteAsync($"/v1/agents/{id}")).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        await (await admin.PatchAsJsonAsync($"/v1/agents/{id}", new { name = "Ghost" })).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Only_admins_manage_agents()
    {
        var bot = await _hub.CreateInboxBotAsync();
        var agent = await _hub.CreateAgentAsync([bot.Id]);
        var body = new { email = NewEmail(), name = "Eve", password = "long enough password" };

        await (await bot.Client.PostAsJsonAsync("/v1/agents", body)).AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await (await bot.Client.GetAsync("/v1/agents")).AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await (await bot.Client.DeleteAsync($"/v1/agents/{agent.Id}")).AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await (await agent.Client.PostAsJsonAsync("/v1/agents", body)).AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await (await agent.Client.PatchAsJsonAsync($"/v1/agents/{agent.Id}", new { role = "admin" })).AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        using var anonymous = _hub.CreateClient();
        await (await anonymous.GetAsync("/v1/agents")).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");

        // An agent with the admin role is an admin.
        var boss = await _hub.CreateAgentAsync(role: "admin");
        await (await boss.Client.GetAsync("/v1/agents")).AssertStatusAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_second_agent_with_the_same_email_is_a_conflict()
    {
        using var admin = _hub.Admin();
        var email = NewEmail();
        await (await admin.PostAsJsonAsync("/v1/agents", new { email, name = "One", password = "password one" })).AssertStatusAsync(HttpStatusCode.Created);

        var again = await admin.PostAsJsonAsync("/v1/agents", new { email = email.ToUpperInvariant(), name = "Two", password = "password two" });

        await again.AssertProblemAsync(HttpStatusCode.Conflict, "conflict");
        var other = await admin.PostAsJsonAsync("/v1/agents", new { email = NewEmail(), name = "Three", password = "password three" });
        var id = (await other.JsonAsync()).Str("id");
        await (await admin.PatchAsJsonAsync($"/v1/agents/{id}", new { email })).AssertProblemAsync(HttpStatusCode.Conflict, "conflict");
    }

    [Theory]
    [InlineData("""{"name":"No email","password":"long enough"}""", "email")]
    [InlineData("""{"email":"not-an-address","name":"X","password":"long enough"}""", "email")]
    [InlineData("""{"email":"a@example.com","name":"X","password":"short"}""", "password")]
    [InlineData("""{"email":"a@example.com","password":"long enough"}""", "name")]
    [InlineData("""{"email":"a@example.com","name":"X","password":"long enough","role":"owner"}""", "role")]
    [InlineData("""{"email":"a@example.com","name":"X","password":"long enough","bot_ids":["bot_missing"]}""", "bot_ids")]
    public async Task Invalid_agents_are_refused_with_field_errors(string json, string field)
    {
        using var admin = _hub.Admin();

        var response = await admin.PostAsync("/v1/agents", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        Assert.NotNull(problem["errors"]?[field]);
    }

    [Fact]
    public async Task Passwords_are_stored_as_salted_hashes()
    {
        using var admin = _hub.Admin();
        const string password = "plain-text-password-42";
        var first = NewEmail();
        var second = NewEmail();
        await (await admin.PostAsJsonAsync("/v1/agents", new { email = first, name = "A", password })).AssertStatusAsync(HttpStatusCode.Created);
        await (await admin.PostAsJsonAsync("/v1/agents", new { email = second, name = "B", password })).AssertStatusAsync(HttpStatusCode.Created);

        var hashes = new List<string>();
        await using (var db = new SqliteConnection($"Data Source={_hub.DatabasePath};Mode=ReadOnly"))
        {
            await db.OpenAsync();
            foreach (var email in new[] { first, second })
            {
                await using var command = db.CreateCommand();
                command.CommandText = "SELECT password_hash FROM agents WHERE email = $email";
                command.Parameters.AddWithValue("$email", email);
                hashes.Add((string)(await command.ExecuteScalarAsync())!);
            }
        }

        Assert.All(hashes, h =>
        {
            Assert.DoesNotContain(password, h);
            Assert.True(Convert.FromBase64String(h).Length > 32, "a PBKDF2 hash with its salt");
        });
        Assert.NotEqual(hashes[0], hashes[1]); // salted
        // Neither does any other column hold it.
        await using (var db = new SqliteConnection($"Data Source={_hub.DatabasePath};Mode=ReadOnly"))
        {
            await db.OpenAsync();
            await using var command = db.CreateCommand();
            command.CommandText = "SELECT COUNT(*) FROM agents WHERE email || name || role || bot_ids LIKE '%' || $p || '%'";
            command.Parameters.AddWithValue("$p", password);
            Assert.Equal(0L, (long)(await command.ExecuteScalarAsync())!);
        }
    }

    [Fact]
    public async Task Login_returns_a_token_and_sets_the_session_cookie()
    {
        var agent = await _hub.CreateAgentAsync(name: "Grace");
        using var browser = _hub.CreateClient(new WebApplicationFactoryClientOptions { HandleCookies = false });

        var response = await browser.PostAsJsonAsync("/v1/auth/login", new { email = agent.Email.ToUpperInvariant(), password = agent.Password });

        await response.AssertStatusAsync(HttpStatusCode.OK);
        var body = await response.JsonAsync();
        var token = body.Str("access_token");
        Assert.Equal(agent.Id, body["agent"]!.Str("id"));
        var cookie = Assert.Single(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith("hub_session="));
        Assert.StartsWith($"hub_session={token};", cookie);
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);

        // The cookie alone authenticates the page's requests; the token alone authenticates as a bearer.
        using var withCookie = new HttpRequestMessage(HttpMethod.Get, "/v1/auth/me");
        withCookie.Headers.Add("Cookie", $"hub_session={token}");
        var me = await browser.SendAsync(withCookie);
        await me.AssertStatusAsync(HttpStatusCode.OK);
        Assert.Equal("Grace", (await me.JsonAsync()).Str("name"));
        using var bearer = _hub.WithToken(token);
        await (await bearer.GetAsync("/v1/inbox/conversations?view=all")).AssertStatusAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_wrong_password_or_unknown_email_is_401()
    {
        var agent = await _hub.CreateAgentAsync();
        using var client = _hub.CreateClient();

        var wrong = await client.PostAsJsonAsync("/v1/auth/login", new { email = agent.Email, password = agent.Password + "x" });
        var unknown = await client.PostAsJsonAsync("/v1/auth/login", new { email = NewEmail(), password = agent.Password });

        await wrong.AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        await unknown.AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        Assert.False(wrong.Headers.Contains("Set-Cookie"));
        await (await client.PostAsJsonAsync("/v1/auth/login", new { email = agent.Email }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task Logout_ends_the_session()
    {
        var agent = await _hub.CreateAgentAsync();
        var other = await _hub.LoginAsync(agent.Email, agent.Password);
        await (await agent.Client.GetAsync("/v1/auth/me")).AssertStatusAsync(HttpStatusCode.OK);

        await (await agent.Client.PostAsync("/v1/auth/logout", null)).AssertStatusAsync(HttpStatusCode.NoContent);

        await (await agent.Client.GetAsync("/v1/auth/me")).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        await (await agent.Client.GetAsync("/v1/inbox/conversations")).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        // Only that session: the agent's other login still works.
        using var stillIn = _hub.WithToken(other);
        await (await stillIn.GetAsync("/v1/auth/me")).AssertStatusAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Logout_through_the_cookie_ends_the_cookie_session()
    {
        var agent = await _hub.CreateAgentAsync();
        using var browser = _hub.CreateClient(); // keeps cookies
        await (await browser.PostAsJsonAsync("/v1/auth/login", new { email = agent.Email, password = agent.Password })).AssertStatusAsync(HttpStatusCode.OK);
        await (await browser.GetAsync("/v1/auth/me")).AssertStatusAsync(HttpStatusCode.OK);

        await (await browser.PostAsync("/v1/auth/logout", null)).AssertStatusAsync(HttpStatusCode.NoContent);

        await (await browser.GetAsync("/v1/auth/me")).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task A_new_password_ends_the_sessions_and_only_the_new_password_logs_in()
    {
        var agent = await _hub.CreateAgentAsync();
        using var admin = _hub.Admin();

        await (await admin.PatchAsJsonAsync($"/v1/agents/{agent.Id}", new { password = "a brand new password" })).AssertStatusAsync(HttpStatusCode.OK);

        await (await agent.Client.GetAsync("/v1/auth/me")).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        using var client = _hub.CreateClient();
        await (await client.PostAsJsonAsync("/v1/auth/login", new { email = agent.Email, password = agent.Password }))
            .AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        Assert.StartsWith("hub_at_", await _hub.LoginAsync(agent.Email, "a brand new password"));
    }

    [Fact]
    public async Task A_deleted_agent_is_logged_out()
    {
        var agent = await _hub.CreateAgentAsync();
        using var admin = _hub.Admin();

        await (await admin.DeleteAsync($"/v1/agents/{agent.Id}")).AssertStatusAsync(HttpStatusCode.NoContent);

        await (await agent.Client.GetAsync("/v1/inbox/conversations")).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        using var client = _hub.CreateClient();
        await (await client.PostAsJsonAsync("/v1/auth/login", new { email = agent.Email, password = agent.Password }))
            .AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task A_scoped_agent_sees_and_acts_on_only_its_bots_conversations()
    {
        var mine = await _hub.CreateInboxBotAsync();
        var others = await _hub.CreateInboxBotAsync();
        var agent = await _hub.CreateAgentAsync([mine.Id]);
        var visible = await mine.NewConversationAsync();
        var hidden = await others.NewConversationAsync();
        foreach (var (bot, id) in new[] { (mine, visible), (others, hidden) })
            await (await bot.Client.PostAsync($"/v1/conversations/{id}/handoff", null)).AssertStatusAsync(HttpStatusCode.OK);

        foreach (var view in new[] { "queue", "all" })
        {
            var (ids, counts) = await agent.Client.InboxAsync(view);
            Assert.Equal([visible], ids);
            Assert.Equal(1, counts["queue"]!.GetValue<int>());
            Assert.Equal(1, counts["all"]!.GetValue<int>());
        }
        await (await agent.Client.GetAsync($"/v1/conversations/{hidden}")).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        await (await agent.Client.GetAsync($"/v1/conversations/{hidden}/messages")).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        foreach (var action in new[] { "claim", "hand-back", "close" })
            await (await agent.Client.InboxActAsync(hidden, action)).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        await (await agent.Client.InboxActAsync(hidden, "reply", new { text = "Hi" })).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        Assert.Equal("pending_human", await others.Client.StatusAsync(hidden));

        await (await agent.Client.InboxActAsync(visible, "claim")).AssertStatusAsync(HttpStatusCode.OK);
        Assert.Equal([visible], (await agent.Client.InboxAsync("mine")).Ids);
        await (await agent.Client.GetAsync($"/v1/conversations/{visible}")).AssertStatusAsync(HttpStatusCode.OK);

        // An agent with no bots listed sees every bot.
        var everywhere = await _hub.CreateAgentAsync();
        var all = (await everywhere.Client.InboxAsync("all")).Ids;
        Assert.Contains(visible, all);
        Assert.Contains(hidden, all);
    }
}

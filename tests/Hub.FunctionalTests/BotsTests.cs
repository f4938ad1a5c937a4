using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests;

public sealed class BotsTests(HubFixture hub) : IClassFixture<HubFixture>
{
    private static readonly object FullBot = new
    {
        name = "Support",
        instructions = "You are a helpful support agent.",
        model = "gpt-4o-mini",
        temperature = 0.2,
        webhook = new { url = "https://crm.example.com/hook", events = new[] { "message.reply" } },
        handoff = new { keywords = new[] { "human", "agent" } },
        knowledge = new[] { "Orders ship within 2 business days.", "Returns are free for 30 days." },
        fallback_text = "I don't know that yet.",
        pricing = new { input_credits_per_1k = 0.5, output_credits_per_1k = 1.5 },
    };

    [Fact]
    public async Task Creating_a_bot_returns_it_with_an_api_key_and_a_webhook_secret()
    {
        using var admin = hub.Admin();

        var response = await admin.PostAsJsonAsync("/v1/bots", FullBot);

        await response.AssertStatusAsync(HttpStatusCode.Created);
        var bot = await response.JsonAsync();
        Assert.StartsWith("/v1/bots/", response.Headers.Location?.ToString());
        Assert.False(string.IsNullOrEmpty(bot.Str("id")));
        Assert.False(string.IsNullOrEmpty(bot.Str("api_key")));
        Assert.Equal("Support", bot.Str("name"));
        Assert.Equal("You are a helpful support agent.", bot.Str("instructions"));
        Assert.Equal("gpt-4o-mini", bot.Str("model"));
        Assert.Equal(0.2, bot["temperature"]!.GetValue<double>());
        Assert.Equal("https://crm.example.com/hook", bot["webhook"]!.Str("url"));
        Assert.Equal(["message.reply"], bot["webhook"]!["events"]!.AsArray().Select(e => e!.GetValue<string>()));
        Assert.Equal(["human", "agent"], bot["handoff"]!["keywords"]!.AsArray().Select(e => e!.GetValue<string>()));
        Assert.Equal(2, bot["knowledge"]!.AsArray().Count);
        Assert.Equal("I don't know that yet.", bot.Str("fallback_text"));
        Assert.Equal(0.5, bot["pricing"]!["input_credits_per_1k"]!.GetValue<double>());
        Assert.Equal(1.5, bot["pricing"]!["output_credits_per_1k"]!.GetValue<double>());
        Assert.Equal(60, bot["blocking_timeout_seconds"]!.GetValue<int>());
    }

    [Fact]
    public async Task Only_name_is_required()
    {
        using var admin = hub.Admin();

        var created = await admin.PostAsJsonAsync("/v1/bots", new { name = "Minimal" });
        var nameless = await admin.PostAsJsonAsync("/v1/bots", new { instructions = "No name" });

        await created.AssertStatusAsync(HttpStatusCode.Created);
        var body = await created.JsonAsync();
        Assert.Equal(["message.reply"], body["webhook"]!["events"]!.AsArray().Select(e => e!.GetValue<string>()));
        var problem = await nameless.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        Assert.NotNull(problem["errors"]?["name"]);
    }

    [Fact]
    public async Task Bot_fields_out_of_range_are_rejected_with_the_field_named()
    {
        using var admin = hub.Admin();

        var response = await admin.PostAsJsonAsync("/v1/bots", new { name = "Hot", temperature = 3.5 });

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        Assert.NotNull(problem["errors"]?["temperature"]);
    }

    [Fact]
    public async Task Api_key_is_shown_only_when_the_bot_is_created()
    {
        var created = await hub.CreateBotAsync(FullBot);
        using var admin = hub.Admin();

        var one = await (await admin.GetAsync($"/v1/bots/{created.Str("id")}")).JsonAsync();
        var list = await (await admin.GetAsync("/v1/bots?limit=100")).JsonAsync();

        Assert.Equal(created.Str("id"), one.Str("id"));
        Assert.Null(one["api_key"]);
        var listed = list["data"]!.AsArray().Single(b => b!.Str("id") == created.Str("id"))!;
        Assert.Null(listed["api_key"]);
        Assert.DoesNotContain(created.Str("api_key"), list.ToJsonString());
    }

    [Fact]
    public async Task Webhook_secret_is_whsec_and_base64_of_24_to_64_bytes()
    {
        var bot = await hub.CreateBotAsync(FullBot);

        var secret = bot["webhook"]!.Str("secret");

        Assert.StartsWith("whsec_", secret);
        var bytes = Convert.FromBase64String(secret["whsec_".Length..]);
        Assert.InRange(bytes.Length, 24, 64);
    }

    [Fact]
    public async Task Rotating_the_webhook_secret_returns_the_bot_with_a_new_secret()
    {
        var bot = await hub.CreateBotAsync(FullBot);
        using var admin = hub.Admin();

        var response = await admin.PostAsync($"/v1/bots/{bot.Str("id")}/webhook/rotate-secret", null);

        await response.AssertStatusAsync(HttpStatusCode.OK);
        var rotated = await response.JsonAsync();
        Assert.Equal(bot.Str("id"), rotated.Str("id"));
        var secret = rotated["webhook"]!.Str("secret");
        Assert.NotEqual(bot["webhook"]!.Str("secret"), secret);
        Assert.StartsWith("whsec_", secret);
        Assert.InRange(Convert.FromBase64String(secret["whsec_".Length..]).Length, 24, 64);
        var reread = await (await admin.GetAsync($"/v1/bots/{bot.Str("id")}")).JsonAsync();
        Assert.Equal(secret, reread["webhook"]!.Str("secret"));
    }

    [Fact]
    public async Task Patch_changes_only_the_fields_given()
    {
        var bot = await hub.CreateBotAsync(FullBot);
        using var admin = hub.Admin();

        var response = await admin.PatchAsJsonAsync($"/v1/bots/{bot.Str("id")}", new { name = "Sales", blocking_timeout_seconds = 5 });

        await response.AssertStatusAsync(HttpStatusCode.OK);
        var patched = await response.JsonAsync();
        Assert.Equal("Sales", patched.Str("name"));
        Assert.Equal(5, patched["blocking_timeout_seconds"]!.GetValue<int>());
        Assert.Equal("You are a helpful support agent.", patched.Str("instructions"));
        Assert.Equal("gpt-4o-mini", patched.Str("model"));
        Assert.Equal(bot["webhook"]!.Str("secret"), patched["webhook"]!.Str("secret"));
        var reread = await (await admin.GetAsync($"/v1/bots/{bot.Str("id")}")).JsonAsync();
        Assert.Equal("Sales", reread.Str("name"));
    }

    [Fact]
    public async Task Created_key_works_and_a_deleted_key_is_refused()
    {
        var bot = await hub.CreateBotAsync();
        using var admin = hub.Admin();

        var created = await admin.PostAsync($"/v1/bots/{bot.Str("id")}/keys", null);
        await created.AssertStatusAsync(HttpStatusCode.Created);
        var key = await created.JsonAsync();
        using var client = hub.WithKey(key.Str("api_key"));
        var before = await client.GetAsync("/v1/conversations");
        var deleted = await admin.DeleteAsync($"/v1/bots/{bot.Str("id")}/keys/{key.Str("key_id")}");
        var after = await client.GetAsync("/v1/conversations");

        await before.AssertStatusAsync(HttpStatusCode.OK);
        await deleted.AssertStatusAsync(HttpStatusCode.NoContent);
        await after.AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        using var original = hub.WithKey(bot.Str("api_key"));
        await (await original.GetAsync("/v1/conversations")).AssertStatusAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Deleting_a_bot_removes_it_and_its_keys()
    {
        var bot = await hub.CreateBotAsync();
        using var admin = hub.Admin();
        using var client = hub.WithKey(bot.Str("api_key"));
        await (await client.GetAsync("/v1/conversations")).AssertStatusAsync(HttpStatusCode.OK);

        var deleted = await admin.DeleteAsync($"/v1/bots/{bot.Str("id")}");

        await deleted.AssertStatusAsync(HttpStatusCode.NoContent);
        await (await admin.GetAsync($"/v1/bots/{bot.Str("id")}")).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        await (await client.GetAsync("/v1/conversations")).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        var list = await (await admin.GetAsync("/v1/bots?limit=100")).JsonAsync();
        Assert.DoesNotContain(list["data"]!.AsArray(), b => b!.Str("id") == bot.Str("id"));
    }

    [Fact]
    public async Task Unknown_bot_is_not_found()
    {
        using var admin = hub.Admin();

        await (await admin.GetAsync("/v1/bots/bot_nope")).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        await (await admin.PatchAsJsonAsync("/v1/bots/bot_nope", new { name = "x" })).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        await (await admin.DeleteAsync("/v1/bots/bot_nope")).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        await (await admin.PostAsync("/v1/bots/bot_nope/keys", null)).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        await (await admin.PostAsync("/v1/bots/bot_nope/webhook/rotate-secret", null)).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Bot_key_may_not_manage_bots()
    {
        var bot = await hub.CreateBotAsync();
        using var client = hub.WithKey(bot.Str("api_key"));

        await (await client.GetAsync("/v1/bots")).AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await (await client.PostAsJsonAsync("/v1/bots", new { name = "Mine" })).AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await (await client.PostAsync($"/v1/bots/{bot.Str("id")}/keys", null)).AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer not-a-key")]
    [InlineData("Basic dXNlcjpwYXNz")]
    [InlineData("Bearer ")]
    public async Task Missing_or_invalid_credentials_are_401_unauthorized(string? authorization)
    {
        using var client = hub.CreateClient();
        foreach (var path in new[] { "/v1/bots", "/v1/conversations", "/v1/usage" })
        {
            var request = new HttpRequestMessage(HttpMethod.Get, path);
            if (authorization is not null) request.Headers.TryAddWithoutValidation("Authorization", authorization);

            var response = await client.SendAsync(request);

            await response.AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        }
    }

    [Fact]
    public async Task Sending_without_a_key_is_401_even_with_a_body()
    {
        var (_, _, conversationId) = await hub.StartConversationAsync();
        using var anonymous = hub.CreateClient();

        var response = await anonymous.SendMessageAsync(conversationId, "Hello");

        await response.AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task Admin_key_sees_every_bots_conversations()
    {
        var (_, botId, conversationId) = await hub.StartConversationAsync();
        using var admin = hub.Admin();

        var one = await admin.GetAsync($"/v1/conversations/{conversationId}");
        var created = await admin.PostAsJsonAsync("/v1/conversations", new { user_id = "u-admin", bot_id = botId });

        await one.AssertStatusAsync(HttpStatusCode.OK);
        await created.AssertStatusAsync(HttpStatusCode.Created);
        Assert.Equal(botId, (await created.JsonAsync()).Str("bot_id"));
    }
}

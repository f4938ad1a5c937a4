using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Hub.BrowserTests.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace Hub.BrowserTests;

/// <summary>
/// The agent inbox in a real browser (Debian's Chromium through Playwright) against the real hub on a socket:
/// two agents in two browser contexts and a CRM-like API client (the bot's key) play a full human handoff.
/// Every wait is an auto-waiting locator or expectation with a generous timeout; nothing is timed.
/// </summary>
[Collection(InboxCollection.Name)]
public sealed class InboxHandoffTests(InboxFixture fixture, ITestOutputHelper output)
{
    private const string Password = "correct horse battery staple";

    [Fact]
    public async Task Two_agents_and_an_api_client_play_a_full_handoff()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var hook = $"handoff-{run}";

        // --- A bot that hands off on "human", with a webhook to the receiver; two agents who see only it ---
        var bot = await fixture.CreateBotAsync(new JsonObject
        {
            ["name"] = $"Support {run}",
            ["handoff"] = new JsonObject { ["keywords"] = new JsonArray("human") },
            ["webhook"] = new JsonObject
            {
                ["url"] = fixture.Receiver.UrlFor(hook),
                ["events"] = new JsonArray("message.reply", "conversation.handoff_requested", "conversation.assigned", "conversation.handed_back"),
            },
            ["knowledge"] = new JsonArray("Orders ship within 2 business days.", "Returns are free for 30 days."),
            ["fallback_text"] = "I don't know that yet.",
        });
        var botId = bot["id"]!.GetValue<string>();
        var secret = bot["webhook"]!["secret"]!.GetValue<string>();
        await fixture.CreateAgentAsync($"alice-{run}@example.com", $"Alice {run}", Password, botId);
        await fixture.CreateAgentAsync($"bob-{run}@example.com", $"Bob {run}", Password, botId);
        using var api = fixture.Hub.Client(bot["api_key"]!.GetValue<string>());

        await using var a = await fixture.OpenInboxAsync("A", output);
        await using var b = await fixture.OpenInboxAsync("B", output);
        try
        {
            await a.LogInAsync($"alice-{run}@example.com", Password);
            await b.LogInAsync($"bob-{run}@example.com", Password);
            await Expect(a.TestId("count-queue")).ToHaveTextAsync("0");
            await Expect(b.TestId("count-queue")).ToHaveTextAsync("0");

            // --- The user asks for a human (API) ---
            var conversation = await api.PostJsonAsync("/v1/conversations", new { user_id = $"u-{run}" }, 201);
            var id = conversation["conversation_id"]!.GetValue<string>();
            const string ask = "Can I talk to a human please?";
            var handedOff = await api.PostJsonAsync($"/v1/conversations/{id}/messages", new { content = ask, response_mode = "blocking" }, 202);
            Assert.Equal("handed_off", handedOff["status"]?.GetValue<string>());
            await fixture.Receiver.WaitForAsync(hook, d => d.Type == "conversation.handoff_requested" && Str(d.Data, "conversation_id") == id,
                "conversation.handoff_requested");

            // --- Both queues show it, live: the count and the list ---
            foreach (var agent in new[] { a, b })
            {
                await Expect(agent.TestId("count-queue")).ToHaveTextAsync("1");
                await Expect(agent.Conversation(id)).ToBeVisibleAsync();
                await Expect(agent.Conversation(id)).ToHaveAttributeAsync("data-status", "pending_human");
                await Expect(agent.Page.GetByTestId("conversation-item")).ToHaveCountAsync(1);
                // Why it is waiting, at a glance: the keyword that handed it off.
                await Expect(agent.Conversation(id).GetByTestId("conversation-reason")).ToHaveTextAsync("keyword: human");
            }

            // Both open it and read the user's request.
            foreach (var agent in new[] { a, b })
            {
                await agent.Conversation(id).ClickAsync();
                await Expect(agent.TestId("thread-status")).ToHaveAttributeAsync("data-status", "pending_human");
                await Expect(agent.TestId("handoff-reason")).ToBeVisibleAsync();
                await Expect(agent.TestId("handoff-reason")).ToHaveTextAsync("Handoff reason: keyword: human");
                await Expect(agent.Messages("user")).ToHaveTextAsync([new Regex(Regex.Escape(ask))]);
                await Expect(agent.TestId("composer")).ToBeDisabledAsync();
            }

            // --- A claims ---
            await a.TestId("claim").ClickAsync();
            await Expect(a.TestId("thread-status")).ToHaveAttributeAsync("data-status", "human");
            await Expect(a.TestId("count-mine")).ToHaveTextAsync("1");
            await Expect(a.TestId("count-queue")).ToHaveTextAsync("0");
            await Expect(a.TestId("composer")).ToBeEnabledAsync();
            await fixture.Receiver.WaitForAsync(hook, d => d.Type == "conversation.assigned" && Str(d.Data, "conversation_id") == id
                && Str(d.Data, "previous_status") == "pending_human", "conversation.assigned with previous_status pending_human");

            // --- B sees it taken, live; B's claim is refused and the page says so ---
            await Expect(b.TestId("thread-status")).ToHaveAttributeAsync("data-status", "human");
            await Expect(b.TestId("count-queue")).ToHaveTextAsync("0");
            await Expect(b.TestId("count-mine")).ToHaveTextAsync("0");
            await Expect(b.TestId("error")).ToBeHiddenAsync();
            await b.TestId("claim").ClickAsync();
            await Expect(b.TestId("error")).ToBeVisibleAsync();
            await Expect(b.TestId("error")).ToContainTextAsync("Another agent has claimed this conversation.");
            await Expect(b.TestId("error")).ToContainTextAsync("409 conflict");
            await Expect(b.TestId("composer")).ToBeDisabledAsync();
            await InboxFixture.SaveScreenshotAsync(b.Page, "inbox-claim-refused.png");
            // The refusal changed nothing: A still holds it.
            await Expect(a.TestId("thread-status")).ToHaveAttributeAsync("data-status", "human");

            // --- A replies in the composer; B sees A typing, then the reply ---
            var reply = $"Hi, this is Alice from support ({run}). Let me look into it.";
            await a.TestId("composer").FillAsync(reply);
            await Expect(b.TestId("typing-indicator")).ToBeVisibleAsync();
            await Expect(b.TestId("typing-indicator")).ToContainTextAsync($"Alice {run}");
            await a.TestId("composer").PressAsync("Enter");
            await Expect(a.Messages("human")).ToHaveTextAsync([new Regex(Regex.Escape(reply))]);
            await Expect(a.TestId("composer")).ToHaveValueAsync("");
            await Expect(b.Messages("human")).ToHaveTextAsync([new Regex(Regex.Escape(reply))]);
            await Expect(b.TestId("typing-indicator")).ToBeHiddenAsync();

            // --- The webhook receiver gets it as a signed message.reply from "human" ---
            var delivered = await fixture.Receiver.WaitForAsync(hook,
                d => d.Type == "message.reply" && Str(d.Data, "conversation_id") == id && Str(d.Data, "from") == "human",
                "the human message.reply");
            Assert.True(delivered.SignedWith(secret), $"bad webhook-signature on {delivered.BodyText}");
            Assert.Equal(reply, delivered.Data["output"]![0]!["content"]!["text"]!.GetValue<string>());
            Assert.Equal(0, delivered.Data["usage"]?["tokens"]?["total_tokens"]?.GetValue<int>() ?? 0);
            // …and the page shows that delivery as delivered.
            await Expect(a.Messages("human").GetByTestId("delivery-status")).ToHaveAttributeAsync("data-status", "delivered");

            // --- The user writes again (API): only people answer, and A sees it live ---
            const string again = "Thanks! My parcel number is 12345.";
            var stillHuman = await api.PostJsonAsync($"/v1/conversations/{id}/messages", new { content = again, response_mode = "blocking" }, 202);
            Assert.Equal("handed_off", stillHuman["status"]?.GetValue<string>());
            await Expect(a.Messages("user")).ToHaveTextAsync([new Regex(Regex.Escape(ask)), new Regex(Regex.Escape(again))]);
            await Expect(b.Messages("user")).ToHaveCountAsync(2);

            // --- A hands back to the bot ---
            await a.TestId("hand-back").ClickAsync();
            await Expect(a.TestId("thread-status")).ToHaveAttributeAsync("data-status", "bot");
            await Expect(a.TestId("count-mine")).ToHaveTextAsync("0");
            await Expect(a.TestId("composer")).ToBeDisabledAsync();
            await Expect(b.TestId("thread-status")).ToHaveAttributeAsync("data-status", "bot");
            await fixture.Receiver.WaitForAsync(hook, d => d.Type == "conversation.handed_back" && Str(d.Data, "conversation_id") == id
                && Str(d.Data, "previous_status") == "human", "conversation.handed_back with previous_status human");

            // --- The bot answers the next message (blocking) ---
            using (var response = await api.PostAsJsonAsync($"/v1/conversations/{id}/messages",
                       new { content = "When will my order ship?", response_mode = "blocking" }))
            {
                var body = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"blocking after hand back: {(int)response.StatusCode} {body}");
                var answered = JsonNode.Parse(body)!.AsObject();
                Assert.Equal("answered", Str(answered, "status"));
                Assert.Equal("ai", Str(answered, "from"));
                Assert.Equal("Orders ship within 2 business days.", answered["output"]![0]!["content"]!["text"]!.GetValue<string>());
            }

            // A, still on the thread, sees the AI's answer arrive with its usage.
            await Expect(a.Messages("ai")).ToHaveCountAsync(1);
            await Expect(a.Messages("ai")).ToContainTextAsync("Orders ship within 2 business days.");
            await Expect(a.Messages("ai").GetByTestId("usage")).ToContainTextAsync("tokens");
            await Expect(a.Page.GetByTestId("message")).ToHaveCountAsync(5);

            foreach (var path in await InboxFixture.SaveScreenshotAsync(a.Page, "inbox.png"))
                output.WriteLine($"Inbox screenshot: {path}");
        }
        catch
        {
            await SaveFailureScreenshotsAsync(a, b);
            throw;
        }
    }

    [Fact]
    public async Task A_wrong_password_is_refused_on_the_login_form()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var bot = await fixture.CreateBotAsync(new JsonObject { ["name"] = $"Login {run}" });
        await fixture.CreateAgentAsync($"carol-{run}@example.com", $"Carol {run}", Password, bot["id"]!.GetValue<string>());

        await using var c = await fixture.OpenInboxAsync("C", output);
        await c.TestId("login-email").FillAsync($"carol-{run}@example.com");
        await c.TestId("login-password").FillAsync("not the password");
        await c.TestId("login-submit").ClickAsync();
        await Expect(c.TestId("login-error")).ToBeVisibleAsync();
        await Expect(c.TestId("login-error")).ToHaveTextAsync("Wrong email or password.");
        await Expect(c.TestId("tab-queue")).ToHaveCountAsync(0);

        // The right password gets in, and the session survives a reload (the cookie).
        await c.TestId("login-password").FillAsync(Password);
        await c.TestId("login-submit").ClickAsync();
        await Expect(c.TestId("tab-queue")).ToBeVisibleAsync();
        await c.Page.ReloadAsync();
        await Expect(c.TestId("tab-queue")).ToBeVisibleAsync();
        await Expect(c.TestId("login-email")).ToHaveCountAsync(0);
    }

    private static string? Str(JsonObject o, string key) => o[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private async Task SaveFailureScreenshotsAsync(params AgentBrowser[] agents)
    {
        foreach (var agent in agents)
        {
            try
            {
                foreach (var path in await InboxFixture.SaveScreenshotAsync(agent.Page, $"failure-{agent.Label}.png"))
                    output.WriteLine($"Failure screenshot ({agent.Label}): {path}");
            }
            catch (Exception e)
            {
                output.WriteLine($"No failure screenshot for {agent.Label}: {e.Message}");
            }
        }
    }
}

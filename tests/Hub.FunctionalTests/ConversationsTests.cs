using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests;

public sealed class ConversationsTests(HubFixture hub) : IClassFixture<HubFixture>
{
    private async Task<HttpClient> NewBotClientAsync() => hub.WithKey((await hub.CreateBotAsync(HubFixture.WebhookBot)).Str("api_key"));

    private static async Task<JsonObject> PageAsync(HttpClient client, string query)
    {
        var response = await client.GetAsync("/v1/conversations" + query);
        await response.AssertStatusAsync(HttpStatusCode.OK);
        return await response.JsonAsync();
    }

    private static async Task<List<string>> AllIdsAsync(HttpClient client, string filter = "", int limit = 100)
    {
        var ids = new List<string>();
        string? cursor = null;
        do
        {
            var page = await PageAsync(client, $"?limit={limit}{filter}" + (cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}"));
            ids.AddRange(page["data"]!.AsArray().Select(c => c!.Str("conversation_id")));
            cursor = page["next_cursor"]?.GetValue<string>();
        } while (cursor is not null);
        return ids;
    }

    [Fact]
    public async Task Creating_a_conversation_returns_its_id_status_bot_and_creation_time()
    {
        using var client = await NewBotClientAsync();

        var response = await client.PostAsJsonAsync("/v1/conversations", new { user_id = "u-42", metadata = new { plan = "pro", tier = 2 } });

        await response.AssertStatusAsync(HttpStatusCode.Created);
        var body = await response.JsonAsync();
        Assert.StartsWith("/v1/conversations/", response.Headers.Location?.ToString());
        Assert.False(string.IsNullOrEmpty(body.Str("conversation_id")));
        Assert.Equal("bot", body.Str("status"));
        var createdAt = DateTimeOffset.Parse(body.Str("created_at"));
        Assert.Equal(TimeSpan.Zero, createdAt.Offset);
        Assert.InRange(createdAt, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(5));
        Assert.Equal("u-42", body.Str("user_id"));
        Assert.Equal("pro", body["metadata"]!.Str("plan"));
    }

    [Fact]
    public async Task A_conversation_can_be_created_without_a_body()
    {
        using var client = await NewBotClientAsync();

        var response = await client.PostAsync("/v1/conversations", null);

        await response.AssertStatusAsync(HttpStatusCode.Created);
        Assert.Equal("bot", (await response.JsonAsync()).Str("status"));
    }

    [Fact]
    public async Task Metadata_that_is_not_an_object_is_rejected()
    {
        using var client = await NewBotClientAsync();

        var response = await client.PostAsJsonAsync("/v1/conversations", new { user_id = "u-1", metadata = new[] { 1, 2 } });

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task Getting_a_conversation_returns_what_was_created()
    {
        using var client = await NewBotClientAsync();
        var created = await (await client.PostAsJsonAsync("/v1/conversations", new { user_id = "u-7", metadata = new { source = "web" } })).JsonAsync();

        var response = await client.GetAsync($"/v1/conversations/{created.Str("conversation_id")}");

        await response.AssertStatusAsync(HttpStatusCode.OK);
        var body = await response.JsonAsync();
        Assert.Equal(created.Str("conversation_id"), body.Str("conversation_id"));
        Assert.Equal("bot", body.Str("status"));
        Assert.Equal("u-7", body.Str("user_id"));
        Assert.Equal("web", body["metadata"]!.Str("source"));
        Assert.Equal(created.Str("created_at"), body.Str("created_at"));
    }

    [Fact]
    public async Task Another_bots_conversation_is_not_found()
    {
        var (owner, _, conversationId) = await hub.StartConversationAsync();
        using var stranger = await NewBotClientAsync();
        await owner.SendMessageAsync(conversationId, "When does my order ship?");

        await (await stranger.GetAsync($"/v1/conversations/{conversationId}")).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        await (await stranger.GetAsync($"/v1/conversations/{conversationId}/messages")).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        await (await stranger.SendMessageAsync(conversationId, "Hi")).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        await (await stranger.PostAsync($"/v1/conversations/{conversationId}/close", null)).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        await (await stranger.PostAsJsonAsync($"/v1/conversations/{conversationId}/handoff", new { reason = "x" })).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        Assert.DoesNotContain(conversationId, await AllIdsAsync(stranger));
        var still = await (await owner.GetAsync($"/v1/conversations/{conversationId}")).JsonAsync();
        Assert.Equal("bot", still.Str("status"));
    }

    [Fact]
    public async Task Unknown_conversation_is_not_found()
    {
        using var client = await NewBotClientAsync();

        await (await client.GetAsync("/v1/conversations/conv_nope")).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        await (await client.GetAsync("/v1/conversations/conv_nope/messages")).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        await (await client.SendMessageAsync("conv_nope", "Hello")).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Listing_pages_with_limit_and_cursor_in_creation_order()
    {
        using var client = await NewBotClientAsync();
        var created = new List<string>();
        for (var i = 0; i < 7; i++) created.Add(await client.CreateConversationAsync());

        var first = await PageAsync(client, "?limit=3");
        var ids = await AllIdsAsync(client, limit: 3);

        Assert.Equal(3, first["data"]!.AsArray().Count);
        Assert.NotNull(first["next_cursor"]?.GetValue<string>());
        Assert.Equal(created, ids);
        var last = await PageAsync(client, "?limit=100");
        Assert.Null(last["next_cursor"]?.GetValue<string>());
    }

    [Fact]
    public async Task Paging_while_conversations_are_created_and_updated_skips_and_repeats_nothing()
    {
        using var client = await NewBotClientAsync();
        var before = new List<string>();
        for (var i = 0; i < 12; i++) before.Add(await client.CreateConversationAsync());

        var seen = new List<string>();
        var addedDuring = new List<string>();
        string? cursor = null;
        var round = 0;
        do
        {
            var page = await PageAsync(client, "?limit=4" + (cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}"));
            seen.AddRange(page["data"]!.AsArray().Select(c => c!.Str("conversation_id")));
            cursor = page["next_cursor"]?.GetValue<string>();

            // Meanwhile the hub keeps changing: new conversations, messages on ones already seen and on
            // ones not yet seen, a closed one.
            if (round++ < 3)
            {
                addedDuring.Add(await client.CreateConversationAsync());
                (await client.SendMessageAsync(before[round], "status?", mode: "webhook")).EnsureSuccessStatusCode();
                (await client.SendMessageAsync(before[11 - round], "status?", mode: "webhook")).EnsureSuccessStatusCode();
                (await client.PostAsync($"/v1/conversations/{before[round + 4]}/close", null)).EnsureSuccessStatusCode();
            }
        } while (cursor is not null);

        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.All(before, id => Assert.Contains(id, seen));
        Assert.All(addedDuring, id => Assert.Contains(id, seen));
        Assert.Equal(before.Concat(addedDuring), seen);
    }

    [Fact]
    public async Task Status_filter_lists_only_conversations_in_that_status()
    {
        using var client = await NewBotClientAsync();
        var open = await client.CreateConversationAsync();
        var closed = await client.CreateConversationAsync();
        var handedOff = await client.CreateConversationAsync();
        await (await client.PostAsync($"/v1/conversations/{closed}/close", null)).AssertStatusAsync(HttpStatusCode.OK);
        await (await client.PostAsJsonAsync($"/v1/conversations/{handedOff}/handoff", new { reason = "asked" })).AssertStatusAsync(HttpStatusCode.OK);

        Assert.Equal([closed], await AllIdsAsync(client, "&status=closed"));
        Assert.Equal([handedOff], await AllIdsAsync(client, "&status=pending_human"));
        Assert.Equal([open], await AllIdsAsync(client, "&status=bot"));
        Assert.Empty(await AllIdsAsync(client, "&status=human"));
    }

    [Fact]
    public async Task Updated_after_lists_only_conversations_changed_since_then()
    {
        using var client = await NewBotClientAsync();
        var quiet = await client.CreateConversationAsync();
        var busy = await client.CreateConversationAsync();
        var mark = (await (await client.GetAsync($"/v1/conversations/{busy}")).JsonAsync()).Str("updated_at");
        await Task.Delay(20); // let the clock move past the mark
        (await client.SendMessageAsync(busy, "Where is my order?", mode: "webhook")).EnsureSuccessStatusCode();
        var later = await client.CreateConversationAsync();

        var ids = await AllIdsAsync(client, $"&updated_after={Uri.EscapeDataString(mark)}");

        Assert.Equal([busy, later], ids);
        Assert.DoesNotContain(quiet, ids);
        var busyNow = await (await client.GetAsync($"/v1/conversations/{busy}")).JsonAsync();
        Assert.True(DateTimeOffset.Parse(busyNow.Str("updated_at")) > DateTimeOffset.Parse(mark));
    }

    [Fact]
    public async Task Closing_a_conversation_sets_status_closed_and_sending_is_409_conversation_closed()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();

        var closed = await client.PostAsync($"/v1/conversations/{conversationId}/close", null);
        var sent = await client.SendMessageAsync(conversationId, "Anyone there?");
        var streamed = await client.SendMessageAsync(conversationId, "Anyone there?", mode: "streaming");

        await closed.AssertStatusAsync(HttpStatusCode.OK);
        Assert.Equal("closed", (await closed.JsonAsync()).Str("status"));
        await sent.AssertProblemAsync(HttpStatusCode.Conflict, "conversation_closed");
        await streamed.AssertProblemAsync(HttpStatusCode.Conflict, "conversation_closed");
        Assert.Empty(await client.AllMessagesAsync(conversationId));
    }

    [Fact]
    public async Task A_closed_conversation_cannot_be_handed_off()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();
        await (await client.PostAsync($"/v1/conversations/{conversationId}/close", null)).AssertStatusAsync(HttpStatusCode.OK);

        var response = await client.PostAsJsonAsync($"/v1/conversations/{conversationId}/handoff", new { reason = "late" });

        await response.AssertProblemAsync(HttpStatusCode.Conflict, "conversation_closed");
    }

    [Fact]
    public async Task After_handoff_blocking_answers_202_handed_off_and_the_message_is_stored_unanswered()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();

        var handoff = await client.PostAsJsonAsync($"/v1/conversations/{conversationId}/handoff", new { reason = "wants a person" });
        var response = await client.SendMessageAsync(conversationId, "When does my order ship?");

        await handoff.AssertStatusAsync(HttpStatusCode.OK);
        Assert.Equal("pending_human", (await handoff.JsonAsync()).Str("status"));
        await response.AssertStatusAsync(HttpStatusCode.Accepted);
        var body = await response.JsonAsync();
        Assert.Equal("handed_off", body.Str("status"));
        Assert.False(string.IsNullOrEmpty(body.Str("message_id")));
        var messages = await client.AllMessagesAsync(conversationId);
        var only = Assert.Single(messages);
        Assert.Equal(body.Str("message_id"), only.Str("message_id"));
        Assert.Equal("user", only.Str("from"));
    }

    [Fact]
    public async Task After_handoff_streaming_sends_a_handoff_event_and_ends()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();
        await (await client.PostAsync($"/v1/conversations/{conversationId}/handoff", null)).AssertStatusAsync(HttpStatusCode.OK);

        var response = await client.SendMessageAsync(conversationId, "When does my order ship?", mode: "streaming");

        await response.AssertStatusAsync(HttpStatusCode.OK);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var frames = (await SseReader.ReadFramesAsync(response)).Where(f => !f.IsPing).ToList();
        var handoff = Assert.Single(frames);
        Assert.Equal("handoff", handoff.Event);
        Assert.Equal(conversationId, handoff.Data!.Str("conversation_id"));
        Assert.False(string.IsNullOrEmpty(handoff.Data!.Str("status")));
    }

    [Fact]
    public async Task After_handoff_webhook_mode_accepts_the_message_for_people()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync(HubFixture.WebhookBot);
        await (await client.PostAsync($"/v1/conversations/{conversationId}/handoff", null)).AssertStatusAsync(HttpStatusCode.OK);

        var response = await client.SendMessageAsync(conversationId, "Hello?", mode: "webhook");

        await response.AssertStatusAsync(HttpStatusCode.Accepted);
        Assert.Equal("accepted", (await response.JsonAsync()).Str("status"));
        await Task.Delay(300);
        Assert.DoesNotContain(await client.AllMessagesAsync(conversationId), m => m.Str("from") == "ai");
    }
}

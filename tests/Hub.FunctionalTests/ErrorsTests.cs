using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests;

/// <summary>Every client mistake named in the contract gets problem+json with its code, never a 500.</summary>
public sealed class ErrorsTests(HubFixture hub) : IClassFixture<HubFixture>
{
    private static HttpRequestMessage Post(string path, string body, string? contentType = "application/json")
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        if (contentType is not null) content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
    }

    private static string Messages(string conversationId) => $"/v1/conversations/{conversationId}/messages";

    [Theory]
    [InlineData("{\"content\": \"Hello\"")]
    [InlineData("{content: 'Hello'}")]
    [InlineData("not json at all")]
    [InlineData("{\"content\": 123}")]
    [InlineData("{\"content\": [\"Hello\"]}")]
    [InlineData("[]")]
    [InlineData("null")]
    [InlineData("\"Hello\"")]
    public async Task Malformed_or_mistyped_json_is_400_validation_failed(string body)
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();

        var response = await client.SendAsync(Post(Messages(conversationId), body));

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        Assert.Empty(await client.AllMessagesAsync(conversationId));
    }

    [Fact]
    public async Task Deeply_nested_json_is_400_not_500()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();
        var nested = new string('[', 5000) + new string(']', 5000);

        var response = await client.SendAsync(Post(Messages(conversationId), $"{{\"content\":\"Hi\",\"extra\":{nested}}}"));

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task Missing_body_is_400_validation_failed()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();

        var response = await client.SendAsync(Post(Messages(conversationId), ""));

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
    }

    [Theory]
    [InlineData("{\"content\": \"\"}")]
    [InlineData("{\"content\": null}")]
    [InlineData("{\"response_mode\": \"blocking\"}")]
    [InlineData("{}")]
    public async Task Empty_or_missing_content_is_400_with_the_field_named(string body)
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();

        var response = await client.SendAsync(Post(Messages(conversationId), body));

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        Assert.NotNull(problem["errors"]?["content"]);
        Assert.Empty(await client.AllMessagesAsync(conversationId));
    }

    [Fact]
    public async Task Content_of_32000_characters_is_accepted()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync(HubFixture.WebhookBot);

        var response = await client.SendMessageAsync(conversationId, new string('a', 32_000), mode: "webhook");

        await response.AssertStatusAsync(HttpStatusCode.Accepted);
    }

    [Fact]
    public async Task Content_of_32001_characters_is_413_payload_too_large()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();

        var response = await client.SendMessageAsync(conversationId, new string('a', 32_001));

        await response.AssertProblemAsync(HttpStatusCode.RequestEntityTooLarge, "payload_too_large");
        Assert.Empty(await client.AllMessagesAsync(conversationId));
    }

    [Fact]
    public async Task Body_over_256_KiB_is_413_payload_too_large()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();
        var body = $"{{\"content\":\"Hi\",\"padding\":\"{new string('x', 257 * 1024)}\"}}";

        var response = await client.SendAsync(Post(Messages(conversationId), body));

        await response.AssertProblemAsync(HttpStatusCode.RequestEntityTooLarge, "payload_too_large");
        Assert.Empty(await client.AllMessagesAsync(conversationId));
    }

    [Fact]
    public async Task Chunked_body_over_256_KiB_is_413_payload_too_large()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();
        var bytes = Encoding.UTF8.GetBytes($"{{\"content\":\"Hi\",\"padding\":\"{new string('x', 300 * 1024)}\"}}");
        var content = new StreamContent(new NonSeekableStream(bytes));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, Messages(conversationId)) { Content = content };
        request.Headers.TransferEncodingChunked = true;

        var response = await client.SendAsync(request);

        await response.AssertProblemAsync(HttpStatusCode.RequestEntityTooLarge, "payload_too_large");
    }

    [Theory]
    [InlineData("fast")]
    [InlineData("BLOCKING")]
    [InlineData("")]
    public async Task Unknown_response_mode_is_400_with_the_field_named(string mode)
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();

        var response = await client.PostAsJsonAsync(Messages(conversationId), new { content = "Hi", response_mode = mode });

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        Assert.NotNull(problem["errors"]?["response_mode"]);
        Assert.Empty(await client.AllMessagesAsync(conversationId));
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("application/xml")]
    [InlineData(null)]
    public async Task Non_json_content_type_is_415_unsupported_media_type(string? contentType)
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();

        var response = await client.SendAsync(Post(Messages(conversationId), "{\"content\":\"Hi\"}", contentType));

        await response.AssertProblemAsync(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
    }

    [Fact]
    public async Task Json_with_a_charset_is_accepted()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync(HubFixture.WebhookBot);

        var response = await client.SendAsync(Post(Messages(conversationId), "{\"content\":\"Hi\",\"response_mode\":\"webhook\"}", "application/json; charset=utf-8"));

        await response.AssertStatusAsync(HttpStatusCode.Accepted);
    }

    [Fact]
    public async Task Bot_bodies_get_the_same_errors()
    {
        using var admin = hub.Admin();

        await (await admin.SendAsync(Post("/v1/bots", "{\"name\":"))).AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        await (await admin.SendAsync(Post("/v1/bots", "name=Support", "application/x-www-form-urlencoded")))
            .AssertProblemAsync(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        await (await admin.SendAsync(Post("/v1/bots", "{\"name\":\"x\",\"temperature\":\"hot\"}"))).AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        await (await admin.SendAsync(Post("/v1/bots", "{\"name\":\"x\",\"temperature\":1e400}"))).AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        await (await admin.SendAsync(Post("/v1/bots", "{\"name\":\"x\",\"webhook\":{\"url\":\"not a url\"}}"))).AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        await (await admin.SendAsync(Post("/v1/bots", "{\"name\":\"x\",\"blocking_timeout_seconds\":0}"))).AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task Unknown_conversation_is_404_not_found()
    {
        var (client, _, _) = await hub.StartConversationAsync();

        var response = await client.SendMessageAsync("conv_does_not_exist", "Hello");

        await response.AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
    }

    [Theory]
    [InlineData("?cursor=garbage!!")]
    [InlineData("?cursor=bXNnOjU")] // a messages cursor ("msg:5") is not a conversations cursor
    [InlineData("?cursor=Y29udjotNQ")] // "conv:-5"
    [InlineData("?limit=0")]
    [InlineData("?limit=101")]
    [InlineData("?limit=ten")]
    [InlineData("?limit=99999999999999999999")]
    [InlineData("?updated_after=yesterday")]
    [InlineData("?updated_after=2026-13-45T99:00:00Z")]
    [InlineData("?status=open")]
    public async Task Bad_list_parameters_are_400_validation_failed(string query)
    {
        var (client, _, _) = await hub.StartConversationAsync();

        var response = await client.GetAsync("/v1/conversations" + query);

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
    }

    [Theory]
    [InlineData("?cursor=%%%")]
    [InlineData("?cursor=Y29udjox")] // "conv:1" is not a messages cursor
    [InlineData("?limit=-1")]
    [InlineData("?limit=201")]
    public async Task Bad_message_list_parameters_are_400_validation_failed(string query)
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();

        var response = await client.GetAsync(Messages(conversationId) + query);

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task An_idempotency_key_over_255_characters_is_400()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();

        var response = await client.SendMessageAsync(conversationId, "Hi", idempotencyKey: new string('k', 256));

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task Unknown_routes_are_problem_json_too()
    {
        using var admin = hub.Admin();

        var response = await admin.GetAsync("/v1/nothing-here");

        await response.AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Odd_requests_never_cause_a_500()
    {
        var (client, botId, conversationId) = await hub.StartConversationAsync();
        using var admin = hub.Admin();
        var requests = new List<Func<Task<HttpResponseMessage>>>
        {
            () => client.GetAsync("/v1/conversations/" + new string('x', 5000)),
            () => client.GetAsync("/v1/conversations/%20%2F%3F/messages"),
            () => client.GetAsync("/v1/conversations/%E2%82%AC"),
            () => client.SendAsync(new HttpRequestMessage(HttpMethod.Post, Messages(conversationId))
                { Content = new ByteArrayContent([0xC3, 0x28, 0xFF]) { Headers = { ContentType = new("application/json") } } }),
            () => client.SendAsync(Post(Messages(conversationId), "{\"content\":\"\\ud800\"}")),
            () => client.SendAsync(Post(Messages(conversationId), "{\"content\":\"Hi\",\"content\":\"again\",\"response_mode\":\"webhook\"}")),
            () => client.SendAsync(Post("/v1/conversations", "{\"metadata\":\"text\"}")),
            () => client.SendAsync(Post("/v1/conversations", "{\"user_id\":" + new string('9', 400) + "}")),
            () => client.SendAsync(Post($"/v1/conversations/{conversationId}/handoff", "{\"reason\":5}")),
            () => client.GetAsync("/v1/usage?from=someday"),
            () => client.GetAsync("/v1/usage?group_by=week"),
            () => client.GetAsync("/v1/usage?from=2026-02-01&to=2026-01-01"),
            () => admin.SendAsync(new HttpRequestMessage(HttpMethod.Patch, $"/v1/bots/{botId}") { Content = new StringContent("{\"knowledge\":[null]}", Encoding.UTF8, "application/json") }),
            () => admin.SendAsync(new HttpRequestMessage(HttpMethod.Patch, $"/v1/bots/{botId}") { Content = new StringContent("{\"webhook\":{\"status\":\"maybe\"}}", Encoding.UTF8, "application/json") }),
            () => admin.SendAsync(new HttpRequestMessage(HttpMethod.Put, "/v1/bots")),
            () => admin.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/v1/bots") { Headers = { { "Authorization", "Bearer " + new string('k', 600) } } }),
        };

        foreach (var send in requests)
        {
            var response = await send();
            var body = await response.Content.ReadAsStringAsync();
            Assert.True((int)response.StatusCode < 500, $"{(int)response.StatusCode} for {response.RequestMessage!.Method} {response.RequestMessage.RequestUri}: {body}");
            if ((int)response.StatusCode >= 400)
            {
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                Assert.Contains("\"code\"", body);
            }
        }
    }

    /// <summary>Browsers ask for text/html first; problems are problem+json all the same, never an empty body or a 500.</summary>
    [Theory]
    [InlineData("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")]
    [InlineData("text/html")]
    [InlineData("image/png")]
    public async Task A_non_json_Accept_still_gets_problem_json_with_a_code(string accept)
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();
        using var anonymous = hub.CreateClient();
        HttpRequestMessage WithAccept(HttpRequestMessage request)
        {
            request.Headers.TryAddWithoutValidation("Accept", accept);
            return request;
        }

        // From a thrown HubProblemException (the exception handler), a status code page, a handler's own problem,
        // the authentication handler, and a JSON body that does not parse.
        await (await client.SendAsync(WithAccept(Post(Messages(conversationId), "{\"content\": 123}")))).AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        await (await client.SendAsync(WithAccept(new HttpRequestMessage(HttpMethod.Get, "/v1/nowhere")))).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        await (await client.SendAsync(WithAccept(new HttpRequestMessage(HttpMethod.Get, "/v1/conversations/conv_missing")))).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        await (await anonymous.SendAsync(WithAccept(new HttpRequestMessage(HttpMethod.Get, "/v1/bots")))).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        await (await client.SendAsync(WithAccept(Post(Messages(conversationId), "not json")))).AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        await (await client.SendAsync(WithAccept(Post(Messages(conversationId), "{\"content\":\"Hi\"}", "text/plain")))).AssertProblemAsync(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
    }

    [Theory]
    [InlineData("{\"content\": 123}")]
    [InlineData("{\"content\": [\"Hello\"]}")]
    [InlineData("{\"content\": {\"text\": \"Hi\"}}")]
    [InlineData("{\"content\": \"Hi\", \"response_mode\": true}")]
    [InlineData("[]")]
    [InlineData("{content: 'Hello'}")]
    public async Task Problem_details_never_name_dotnet_types(string body)
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();

        var response = await client.SendAsync(Post(Messages(conversationId), body));

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        var text = problem.ToJsonString();
        Assert.DoesNotContain("System.", text);
        Assert.DoesNotContain("Hub.", text.Replace("hub.dev", ""));
        Assert.DoesNotContain("Exception", text);
        Assert.DoesNotContain("   at ", text);
    }

    [Fact]
    public async Task Client_mistakes_are_not_logged_as_errors()
    {
        var capture = new LogCapture();
        await using var logged = HubFixture.With(new Dictionary<string, string?>());
        logged.LogProvider = capture;
        var (client, _, conversationId) = await logged.StartConversationAsync();

        foreach (var accept in new[] { "text/html", "application/json" })
        {
            var bad = Post(Messages(conversationId), "{\"content\": 123}");
            bad.Headers.TryAddWithoutValidation("Accept", accept);
            await (await client.SendAsync(bad)).AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
            var missing = new HttpRequestMessage(HttpMethod.Get, "/v1/conversations/conv_missing");
            missing.Headers.TryAddWithoutValidation("Accept", accept);
            await (await client.SendAsync(missing)).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        }

        Assert.Empty(capture.AtLeast(Microsoft.Extensions.Logging.LogLevel.Error).Select(e => $"{e.Level} {e.Category}: {e.Message}"));
    }

    /// <summary>Forces chunked transfer: the body's length is not known up front.</summary>
    private sealed class NonSeekableStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}

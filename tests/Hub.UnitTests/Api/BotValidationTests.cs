using Hub.Api.Bots;

namespace Hub.UnitTests.Api;

public class BotValidationTests
{
    private static BotInput Valid => new(
        Name: "Support",
        Instructions: "You are Support.",
        Model: "gpt-4o-mini",
        Temperature: 0.2,
        Webhook: new WebhookInput("https://crm.example.com/hook", ["message.reply", "conversation.closed"], null),
        Handoff: new HandoffInput(["human", "agent"], null),
        Knowledge: ["Orders ship within 2 business days."],
        FallbackText: "I don't know that yet.",
        Pricing: new PricingInput(0.5, 1.5),
        BlockingTimeoutSeconds: 60);

    private static BotInput Empty => new(null, null, null, null, null, null, null, null, null, null);

    private static string[] Fields(BotInput input, bool creating = true) =>
        BotValidation.Check(input, creating).Keys.Order().ToArray();

    [Fact]
    public void The_contract_example_is_valid()
    {
        Assert.Empty(BotValidation.Check(Valid, creating: true));
    }

    [Fact]
    public void Only_the_name_is_required_to_create()
    {
        Assert.Empty(BotValidation.Check(Empty with { Name = "Support" }, creating: true));
        Assert.Equal(["name"], Fields(Empty, creating: true));
        Assert.Equal(["name"], Fields(Empty with { Name = "  " }, creating: true));
    }

    [Fact]
    public void An_update_may_leave_the_name_out_but_not_blank_it()
    {
        Assert.Empty(BotValidation.Check(Empty, creating: false));
        Assert.Equal(["name"], Fields(Empty with { Name = "" }, creating: false));
    }

    public static TheoryData<BotInput, string> Invalid => new()
    {
        { Valid with { Name = new string('n', 201) }, "name" },
        { Valid with { Instructions = new string('i', 32_001) }, "instructions" },
        { Valid with { Model = new string('m', 201) }, "model" },
        { Valid with { Temperature = -0.1 }, "temperature" },
        { Valid with { Temperature = 2.01 }, "temperature" },
        { Valid with { FallbackText = new string('f', 4_001) }, "fallback_text" },
        { Valid with { BlockingTimeoutSeconds = 0 }, "blocking_timeout_seconds" },
        { Valid with { BlockingTimeoutSeconds = 601 }, "blocking_timeout_seconds" },
        { Valid with { Knowledge = ["fine", " "] }, "knowledge" },
        { Valid with { Knowledge = [new string('k', 8_001)] }, "knowledge" },
        { Valid with { Knowledge = Enumerable.Repeat("entry", 1_001).ToList() }, "knowledge" },
        { Valid with { Handoff = new HandoffInput([""], null) }, "handoff.keywords" },
        { Valid with { Handoff = new HandoffInput(Enumerable.Repeat("human", 101).ToList(), null) }, "handoff.keywords" },
        { Valid with { Pricing = new PricingInput(-1, 1) }, "pricing" },
        { Valid with { Pricing = new PricingInput(1, -0.01) }, "pricing" },
        { Valid with { Webhook = new WebhookInput("ftp://crm.example.com/hook", null, null) }, "webhook.url" },
        { Valid with { Webhook = new WebhookInput("/hook", null, null) }, "webhook.url" },
        { Valid with { Webhook = new WebhookInput("not a url", null, null) }, "webhook.url" },
        { Valid with { Webhook = new WebhookInput("https://crm.example.com/" + new string('p', 2048), null, null) }, "webhook.url" },
        { Valid with { Webhook = new WebhookInput(null, ["message.reply", "message.deleted"], null) }, "webhook.events" },
        { Valid with { Webhook = new WebhookInput(null, null, "paused") }, "webhook.status" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Each_bad_field_is_reported_under_its_own_name(BotInput input, string field)
    {
        Assert.Equal([field], Fields(input));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(2.0)]
    public void Temperature_bounds_are_inclusive(double temperature)
    {
        Assert.Empty(BotValidation.Check(Valid with { Temperature = temperature }, creating: true));
    }

    [Fact]
    public void Every_event_type_of_the_contract_may_be_subscribed()
    {
        List<string> all =
        [
            "message.reply", "message.received", "conversation.created", "conversation.handoff_requested",
            "conversation.assigned", "conversation.handed_back", "conversation.closed",
        ];

        Assert.Empty(BotValidation.Check(Valid with { Webhook = new WebhookInput("http://crm.example.com/hook", all, "enabled") }, creating: true));
    }

    [Fact]
    public void An_unknown_event_type_is_named_in_the_message()
    {
        var errors = BotValidation.Check(Valid with { Webhook = new WebhookInput(null, ["message.deleted"], null) }, creating: true);

        Assert.Contains("message.deleted", errors["webhook.events"][0]);
    }

    [Fact]
    public void Several_bad_fields_are_all_reported()
    {
        var input = Valid with { Temperature = 5, BlockingTimeoutSeconds = 0, Pricing = new PricingInput(-1, -1) };

        Assert.Equal(["blocking_timeout_seconds", "pricing", "temperature"], Fields(input));
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080/hook")]
    [InlineData("http://localhost/hook")]
    [InlineData("http://hooks.localhost/hook")]
    [InlineData("http://10.1.2.3/hook")]
    [InlineData("http://192.168.1.10/hook")]
    [InlineData("http://169.254.169.254/latest/meta-data")]
    [InlineData("http://[::1]/hook")]
    // Other spellings of the same hosts: the root dot, IDN full stops and full-width letters, short IPv4 forms.
    [InlineData("http://localhost.:8080/hook")]
    [InlineData("http://LOCALHOST./hook")]
    [InlineData("http://hooks.localhost./hook")]
    [InlineData("http://127.0.0.1.:8080/hook")]
    [InlineData("http://127\u30020\u30020\u30021:8080/hook")]
    [InlineData("http://127\uFF0E0\uFF0E0\uFF0E1:8080/hook")]
    [InlineData("http://127\uFF610\uFF610\uFF611:8080/hook")]
    [InlineData("http://localhost\u3002:8080/hook")]
    [InlineData("http://\uFF4C\uFF4F\uFF43\uFF41\uFF4C\uFF48\uFF4F\uFF53\uFF54:8080/hook")]
    [InlineData("http://127.1/hook")]
    [InlineData("http://0x7f.0.0.1/hook")]
    [InlineData("http://2130706433/hook")]
    [InlineData("http://[::ffff:127.0.0.1]/hook")]
    [InlineData("http://10\u30021\u30022\u30023./hook")]
    public void A_webhook_url_naming_a_non_public_address_is_refused(string url)
    {
        var input = Valid with { Webhook = new WebhookInput(url, null, null) };

        Assert.Equal(["webhook.url"], BotValidation.Check(input, creating: true).Keys);
        Assert.Empty(BotValidation.Check(input, creating: true, allowPrivateWebhooks: true));
    }

    [Theory]
    [InlineData("https://93.184.216.34/hook")]
    [InlineData("https://crm.example.com/hook")]
    [InlineData("https://crm.example.com./hook")]
    [InlineData("https://b\u00FCcher.example/hook")]
    [InlineData("https://crm\u3002example\u3002com/hook")]
    public void A_webhook_url_naming_a_public_address_or_a_host_name_is_accepted(string url)
    {
        Assert.Empty(BotValidation.Check(Valid with { Webhook = new WebhookInput(url, null, null) }, creating: true));
    }
}

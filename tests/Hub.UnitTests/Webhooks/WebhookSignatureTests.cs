using System.Text;
using Hub.Dispatcher.Signing;
using Hub.TestSupport;

namespace Hub.UnitTests.Webhooks;

public class WebhookSignatureTests
{
    // The published Standard Webhooks test vector (API.md, "Webhooks").
    private const string Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    private const string Id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    private const long Timestamp = 1614265330;
    private const string Payload = "{\"test\": 2432232314}";
    private const string Expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    private static byte[] Body => Encoding.UTF8.GetBytes(Payload);

    [Fact]
    public void Hubs_signer_gives_the_specs_published_signature()
    {
        Assert.Equal(Expected, WebhookSignature.Sign(Secret, Id, Timestamp, Body));
    }

    [Fact]
    public void The_tests_own_verifier_gives_the_specs_published_signature()
    {
        Assert.Equal(Expected, StandardWebhooksVerifier.Sign(Secret, Id, Timestamp.ToString(), Body));
        Assert.True(StandardWebhooksVerifier.Verify(Secret, Id, Timestamp.ToString(), Body, Expected));
    }

    [Fact]
    public void A_signature_from_hub_verifies_with_the_tests_verifier_and_fails_on_any_change()
    {
        var secret = "whsec_" + Convert.ToBase64String(Enumerable.Range(0, 32).Select(i => (byte)(i * 7)).ToArray());
        var body = Encoding.UTF8.GetBytes("{\"type\":\"message.reply\",\"data\":{\"text\":\"Grüße 👋\"}}");
        var header = WebhookSignature.Header([secret], "evt_1", 1700000000, body);

        Assert.True(StandardWebhooksVerifier.Verify(secret, "evt_1", "1700000000", body, header));
        Assert.False(StandardWebhooksVerifier.Verify(secret, "evt_2", "1700000000", body, header));
        Assert.False(StandardWebhooksVerifier.Verify(secret, "evt_1", "1700000001", body, header));
        Assert.False(StandardWebhooksVerifier.Verify(secret, "evt_1", "1700000000", [.. body, (byte)' '], header));
        var otherSecret = "whsec_" + Convert.ToBase64String(new byte[32]);
        Assert.False(StandardWebhooksVerifier.Verify(otherSecret, "evt_1", "1700000000", body, header));
    }

    [Fact]
    public void Two_secrets_give_two_space_separated_signatures_each_verifying_with_its_own_secret()
    {
        var current = "whsec_" + Convert.ToBase64String(new byte[24] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24 });

        var header = WebhookSignature.Header([current, Secret], Id, Timestamp, Body);

        var signatures = StandardWebhooksVerifier.Signatures(header);
        Assert.Equal(2, signatures.Count);
        Assert.Equal(header, string.Join(' ', signatures));
        Assert.Equal(StandardWebhooksVerifier.Sign(current, Id, Timestamp.ToString(), Body), signatures[0]);
        Assert.Equal(Expected, signatures[1]);
        Assert.True(StandardWebhooksVerifier.Verify(current, Id, Timestamp.ToString(), Body, header));
        Assert.True(StandardWebhooksVerifier.Verify(Secret, Id, Timestamp.ToString(), Body, header));
    }

    [Fact]
    public void A_timestamp_far_from_now_is_not_fresh()
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(Timestamp);
        Assert.True(StandardWebhooksVerifier.TimestampIsFresh(Timestamp.ToString(), now.AddMinutes(4)));
        Assert.False(StandardWebhooksVerifier.TimestampIsFresh(Timestamp.ToString(), now.AddMinutes(6)));
        Assert.False(StandardWebhooksVerifier.TimestampIsFresh("soon", now));
    }
}

using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text;
using Hub.AiWorker.Llm;

namespace Hub.UnitTests.Llm;

public class CompactRequestBodyPolicyTests
{
    private sealed class BigModel(string text) : IPersistableModel<BigModel>
    {
        public BigModel Create(BinaryData data, ModelReaderWriterOptions options) => new(data.ToString());
        public string GetFormatFromOptions(ModelReaderWriterOptions options) => "J";
        public BinaryData Write(ModelReaderWriterOptions options) => BinaryData.FromString($$"""{"text":"{{text}}"}""");
    }

    private static byte[] Bytes(BinaryContent content)
    {
        using var stream = new MemoryStream();
        content.WriteTo(stream);
        return stream.ToArray();
    }

    [Theory]
    [InlineData(10)]
    [InlineData(20_000)]
    public void The_body_sent_is_byte_for_byte_the_body_the_SDK_wrote(int length)
    {
        var text = new string('é', length);
        var message = ClientPipeline.Create().CreateMessage();
        message.Request.Content = BinaryContent.Create(new BigModel(text), ModelReaderWriterOptions.Json);
        var expected = Encoding.UTF8.GetBytes($$"""{"text":"{{text}}"}""");

        CompactRequestBodyPolicy.Compact(message);

        Assert.True(message.Request.Content!.TryComputeLength(out var computed));
        Assert.Equal(expected.Length, computed);
        Assert.Equal(expected, Bytes(message.Request.Content));
    }

    [Fact]
    public void A_request_without_a_body_is_left_alone()
    {
        var message = ClientPipeline.Create().CreateMessage();

        CompactRequestBodyPolicy.Compact(message);

        Assert.Null(message.Request.Content);
    }
}

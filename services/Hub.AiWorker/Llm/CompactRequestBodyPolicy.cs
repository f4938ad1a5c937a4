using System.ClientModel;
using System.ClientModel.Primitives;

namespace Hub.AiWorker.Llm;

/// <summary>
/// The OpenAI SDK serialises a request body into buffers rented from the shared array pool (16 KB for a
/// chat request of 1 to 2 KB) and keeps them until the call ends. A streaming call lasts as long as the
/// reply, and thousands can be waiting on a slow model at once, so the pool hands out fresh buffers and
/// each call pins 16 KB. Copying the body into an array of its exact size, once per call, gives the
/// buffers back to the pool before the request is sent.
/// </summary>
internal sealed class CompactRequestBodyPolicy : PipelinePolicy
{
    public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        Compact(message);
        ProcessNext(message, pipeline, currentIndex);
    }

    public override ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        Compact(message);
        return ProcessNextAsync(message, pipeline, currentIndex);
    }

    internal static void Compact(PipelineMessage message)
    {
        if (message.Request.Content is not { } content
            || !content.TryComputeLength(out var length) || length > 1024 * 1024) return;
        var body = new byte[length];
        using (var target = new MemoryStream(body, writable: true))
            content.WriteTo(target, message.CancellationToken);
        message.Request.Content = BinaryContent.Create(BinaryData.FromBytes(body));
        content.Dispose();
    }
}

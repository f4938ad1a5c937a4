using System.ClientModel;
using System.ClientModel.Primitives;
using Hub.AiWorker.Llm;

namespace Hub.UnitTests.Llm;

public class OpenAiProviderClassifyTests
{
    private static ClientResultException Answered(int status, params (string Name, string Value)[] headers) =>
        new(new FakeResponse(status, headers));

    [Theory]
    [InlineData(429)]
    [InlineData(408)]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(503)]
    [InlineData(504)]
    public void Rate_limits_timeouts_and_server_errors_are_transient(int status)
    {
        Assert.IsType<LlmTransientException>(OpenAiProvider.Classify(Answered(status), CancellationToken.None));
    }

    [Fact]
    public void An_unreachable_server_is_transient()
    {
        var unreachable = new ClientResultException("Connection refused");

        Assert.Equal(0, unreachable.Status);
        Assert.IsType<LlmTransientException>(OpenAiProvider.Classify(unreachable, CancellationToken.None));
    }

    [Theory]
    [InlineData(400)]
    [InlineData(401)]
    [InlineData(403)]
    [InlineData(404)]
    [InlineData(422)]
    public void Client_errors_are_permanent(int status)
    {
        Assert.IsType<LlmPermanentException>(OpenAiProvider.Classify(Answered(status), CancellationToken.None));
    }

    [Fact]
    public void Network_failures_and_attempt_timeouts_are_transient()
    {
        Assert.IsType<LlmTransientException>(OpenAiProvider.Classify(new HttpRequestException("reset"), CancellationToken.None));
        Assert.IsType<LlmTransientException>(OpenAiProvider.Classify(new IOException("broken pipe"), CancellationToken.None));
        Assert.IsType<LlmTransientException>(OpenAiProvider.Classify(new TaskCanceledException("timed out"), CancellationToken.None));
    }

    [Fact]
    public void Caller_cancellation_is_let_through_unmapped()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        Assert.Null(OpenAiProvider.Classify(new OperationCanceledException(cts.Token), cts.Token));
        Assert.Null(OpenAiProvider.Classify(Answered(503), cts.Token));
    }

    [Fact]
    public void Other_exceptions_are_not_mapped()
    {
        Assert.Null(OpenAiProvider.Classify(new InvalidOperationException("bug"), CancellationToken.None));
    }

    [Fact]
    public void Retry_After_seconds_are_carried_on_a_transient_failure()
    {
        var mapped = Assert.IsType<LlmTransientException>(
            OpenAiProvider.Classify(Answered(429, ("Retry-After", "7")), CancellationToken.None));

        Assert.Equal(TimeSpan.FromSeconds(7), mapped.RetryAfter);
    }

    [Fact]
    public void The_original_failure_is_kept_as_the_inner_exception()
    {
        var original = Answered(400);

        Assert.Same(original, OpenAiProvider.Classify(original, CancellationToken.None)!.InnerException);
    }

    private sealed class FakeResponse(int status, (string Name, string Value)[] headers) : PipelineResponse
    {
        private BinaryData _content = BinaryData.FromString("""{"error":{"message":"scripted"}}""");

        public override int Status => status;
        public override string ReasonPhrase => "Scripted";
        public override Stream? ContentStream { get; set; }
        public override BinaryData Content => _content;
        protected override PipelineResponseHeaders HeadersCore => new FakeHeaders(headers);
        public override BinaryData BufferContent(CancellationToken cancellationToken = default) => _content;
        public override ValueTask<BinaryData> BufferContentAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult(_content);
        public override void Dispose() { }
    }

    private sealed class FakeHeaders((string Name, string Value)[] headers) : PipelineResponseHeaders
    {
        public override bool TryGetValue(string name, out string? value)
        {
            value = headers.FirstOrDefault(h => string.Equals(h.Name, name, StringComparison.OrdinalIgnoreCase)).Value;
            return value is not null;
        }

        public override bool TryGetValues(string name, out IEnumerable<string>? values)
        {
            values = headers.Where(h => string.Equals(h.Name, name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).ToList();
            return values.Any();
        }

        public override IEnumerator<KeyValuePair<string, string>> GetEnumerator() =>
            headers.Select(h => KeyValuePair.Create(h.Name, h.Value)).GetEnumerator();
    }
}

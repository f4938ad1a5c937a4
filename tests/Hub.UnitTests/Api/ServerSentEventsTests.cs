using System.Text;
using System.Text.Json;
using Hub.Api.Messages;
using Hub.Core.Messages;
using Microsoft.AspNetCore.Http;

namespace Hub.UnitTests.Api;

public class ServerSentEventsTests
{
    private static string Wire(SseFrame frame) => Encoding.UTF8.GetString(ServerSentEventsResult.Format(frame));

    [Fact]
    public void An_event_is_its_name_then_one_line_of_snake_case_json_then_a_blank_line()
    {
        var frame = new SseFrame("message", new SseMessageDelta("msg_2", "conv_1", "Hello"));

        Assert.Equal("event: message\ndata: {\"message_id\":\"msg_2\",\"conversation_id\":\"conv_1\",\"delta\":\"Hello\"}\n\n", Wire(frame));
    }

    [Fact]
    public void A_ping_is_a_comment_frame()
    {
        Assert.Equal(": ping\n\n", Wire(SseFrame.Ping));
    }

    [Fact]
    public void Line_breaks_in_the_text_stay_inside_one_data_line()
    {
        var wire = Wire(new SseFrame("message", new SseMessageDelta("msg_2", "conv_1", "line one\nline two\r\n")));

        Assert.Equal(2, wire.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        var data = JsonDocument.Parse(wire.Split('\n')[1]["data: ".Length..]);
        Assert.Equal("line one\nline two\r\n", data.RootElement.GetProperty("delta").GetString());
    }

    [Fact]
    public void Handoff_and_error_events_use_the_contract_names()
    {
        Assert.Equal("event: handoff\ndata: {\"conversation_id\":\"conv_1\",\"status\":\"handed_off\"}\n\n",
            Wire(new SseFrame("handoff", new SseHandoff("conv_1", "handed_off"))));
        Assert.StartsWith("event: error\ndata: {\"code\":\"unavailable\",\"message\":",
            Wire(new SseFrame("error", new SseError("unavailable", "The AI could not answer.", "msg_1"))));
    }

    [Fact]
    public void The_message_end_data_is_the_reply_object_in_snake_case()
    {
        var reply = new MessageRecord
        {
            Id = "msg_2", ConversationId = "conv_1", Sequence = 2, Sender = "ai", Content = "Your order ships today.",
            ReplyTo = "msg_1", PromptTokens = 19, CompletionTokens = 10, InputCredits = 0.0095, OutputCredits = 0.015,
            CreatedAt = 1679587005_000,
        };
        var wire = Wire(new SseFrame("message_end", ReplyObject.Of(reply)));

        Assert.StartsWith("event: message_end\ndata: ", wire);
        Assert.EndsWith("}\n\n", wire);
        var data = JsonDocument.Parse(wire["event: message_end\ndata: ".Length..].TrimEnd('\n')).RootElement;
        Assert.Equal("conv_1", data.GetProperty("conversation_id").GetString());
        Assert.Equal("msg_2", data.GetProperty("message_id").GetString());
        Assert.Equal("msg_1", data.GetProperty("reply_to").GetString());
        Assert.Equal(1679587005, data.GetProperty("create_time").GetInt64());
        Assert.Equal("ai", data.GetProperty("from").GetString());
        Assert.Equal("Your order ships today.", data.GetProperty("output")[0].GetProperty("content").GetProperty("text").GetString());
        var tokens = data.GetProperty("usage").GetProperty("tokens");
        Assert.Equal((19, 10, 29), (tokens.GetProperty("prompt_tokens").GetInt32(), tokens.GetProperty("completion_tokens").GetInt32(), tokens.GetProperty("total_tokens").GetInt32()));
        var credits = data.GetProperty("usage").GetProperty("credits");
        Assert.Equal((0.0095, 0.015, 0.0245), (credits.GetProperty("text_input_credits").GetDouble(), credits.GetProperty("text_output_credits").GetDouble(), credits.GetProperty("total_credits").GetDouble()));
    }

    [Fact]
    public async Task The_result_writes_an_event_stream_of_its_frames_in_order()
    {
        var http = new DefaultHttpContext();
        var body = new MemoryStream();
        http.Response.Body = body;

        await new ServerSentEventsResult(Frames()).ExecuteAsync(http);

        Assert.Equal(200, http.Response.StatusCode);
        Assert.Equal("text/event-stream", http.Response.ContentType);
        Assert.Equal("no-cache", http.Response.Headers.CacheControl.ToString());
        Assert.Equal(
            "event: message\ndata: {\"message_id\":\"msg_2\",\"conversation_id\":\"conv_1\",\"delta\":\"Hi\"}\n\n" +
            ": ping\n\n" +
            "event: handoff\ndata: {\"conversation_id\":\"conv_1\",\"status\":\"handed_off\"}\n\n",
            Encoding.UTF8.GetString(body.ToArray()));

        static async IAsyncEnumerable<SseFrame> Frames()
        {
            yield return new SseFrame("message", new SseMessageDelta("msg_2", "conv_1", "Hi"));
            await Task.Yield();
            yield return SseFrame.Ping;
            yield return new SseFrame("handoff", new SseHandoff("conv_1", "handed_off"));
        }
    }
}

using Hub.AiWorker.Llm;
using Hub.Core.Conversations;

namespace Hub.UnitTests.Llm;

public class HandoffReasonTests
{
    [Theory]
    [InlineData("{\"reason\":\"The user asked for a person.\"}", "The user asked for a person.")]
    [InlineData("{\"reason\":\"\"}", "")]
    [InlineData("{}", null)]
    [InlineData("", null)]
    [InlineData("{\"reason\":5}", null)]
    [InlineData("[\"reason\"]", null)]
    [InlineData("{\"reason\":\"cut off", null)]
    public void The_handoff_tools_reason_argument_is_read_and_broken_arguments_give_none(string arguments, string? expected)
    {
        Assert.Equal(expected, OpenAiProvider.HandoffReason(arguments));
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("   ", null)]
    [InlineData("  billing  ", "billing")]
    public void A_stored_reason_is_trimmed_and_blank_is_none(string? reason, string? stored)
    {
        Assert.Equal(stored, ConversationTransitions.Reason(reason));
    }

    [Fact]
    public void A_stored_reason_is_cut_to_the_columns_size()
    {
        Assert.Equal(ConversationTransitions.MaxReasonLength, ConversationTransitions.Reason(new string('x', 5_000))!.Length);
    }

    [Theory]
    [InlineData("Can I talk to a HUMAN?", "human")]
    [InlineData("an agent, please", "agent")]
    [InlineData("superhuman", null)]
    public void The_keyword_that_matched_names_the_handoff(string content, string? keyword)
    {
        Assert.Equal(keyword, HandoffKeywords.FirstMatch(content, [" human ", "agent"]));
    }
}

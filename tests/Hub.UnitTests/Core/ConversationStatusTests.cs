using Hub.Core.Conversations;
using static Hub.Core.Conversations.ConversationStatus;

namespace Hub.UnitTests.Core;

public class ConversationStatusTests
{
    [Theory]
    [InlineData(Bot, PendingHuman)]
    [InlineData(PendingHuman, Human)]
    [InlineData(Human, Bot)]
    [InlineData(Human, Closed)]
    [InlineData(PendingHuman, Closed)]
    [InlineData(Bot, Closed)]
    public void The_documented_moves_are_allowed(string from, string to)
    {
        Assert.True(CanMove(from, to));
    }

    [Theory]
    [InlineData(Bot)]
    [InlineData(PendingHuman)]
    [InlineData(Human)]
    [InlineData(Closed)]
    public void Nothing_leaves_closed(string to)
    {
        Assert.False(CanMove(Closed, to));
    }

    [Theory]
    [InlineData(Bot, Human)]
    [InlineData(Human, PendingHuman)]
    public void A_conversation_does_not_skip_or_go_back_in_the_queue(string from, string to)
    {
        Assert.False(CanMove(from, to));
    }

    [Theory]
    [InlineData(Bot)]
    [InlineData(PendingHuman)]
    [InlineData(Human)]
    public void Staying_in_the_same_status_is_not_a_move(string status)
    {
        Assert.False(CanMove(status, status));
    }

    [Theory]
    [InlineData("open", Bot)]
    [InlineData(Bot, "resolved")]
    [InlineData("BOT", PendingHuman)]
    public void Unknown_statuses_never_move(string from, string to)
    {
        Assert.False(CanMove(from, to));
    }

    [Fact]
    public void The_four_statuses_of_the_contract_are_known()
    {
        Assert.Equal(["bot", "closed", "human", "pending_human"], All.Order());
    }
}

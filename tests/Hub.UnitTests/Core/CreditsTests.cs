using Hub.Core.Messages;

namespace Hub.UnitTests.Core;

public class CreditsTests
{
    [Fact]
    public void Credits_are_priced_per_thousand_input_and_output_tokens()
    {
        Assert.Equal((0.5, 0.75), Credits.For(1000, 500, inputPer1k: 0.5, outputPer1k: 1.5));
    }

    [Fact]
    public void The_contract_example_adds_up()
    {
        var (input, output) = Credits.For(19, 10, 0.5, 1.5);
        var usage = CreditUsage.Of(input, output);

        Assert.Equal(new CreditUsage(0.0095, 0.015, 0.0245), usage);
    }

    [Fact]
    public void A_bot_without_pricing_costs_nothing()
    {
        Assert.Equal((0d, 0d), Credits.For(1234, 567, 0, 0));
    }

    [Theory]
    [InlineData(1, 0.0004, 0)]
    [InlineData(1, 0.0006, 0.000001)]
    [InlineData(3, 1, 0.003)]
    [InlineData(7, 0.3333333, 0.002333)]
    public void Credits_are_rounded_to_six_decimals(int tokens, double per1k, double expected)
    {
        Assert.Equal(expected, Credits.For(tokens, tokens, per1k, per1k).Input);
        Assert.Equal(expected, Credits.For(tokens, tokens, per1k, per1k).Output);
    }

    [Fact]
    public void Totals_carry_no_floating_point_noise()
    {
        var usage = CreditUsage.Of(0.1, 0.2);

        Assert.Equal(0.3, usage.TotalCredits);
        Assert.Equal("0.3", usage.TotalCredits.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Stored_amounts_are_rounded_again_when_shown()
    {
        Assert.Equal(new CreditUsage(0.123457, 0, 0.123457), CreditUsage.Of(0.1234567, 0));
    }
}

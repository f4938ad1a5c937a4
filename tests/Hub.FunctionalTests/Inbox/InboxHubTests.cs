using System.Net;
using System.Net.Http.Json;
using System.Security.Claims;
using Hub.Api.Auth;
using Hub.Api.Inbox;
using Hub.Core.Data;
using Hub.FunctionalTests.Infrastructure;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hub.FunctionalTests.Inbox;

/// <summary>
/// The SignalR hub at <c>/hubs/inbox</c> over its real wire protocol (JSON over WebSockets): who may
/// connect, what every connected inbox hears, and the agents' actions.
/// </summary>
public sealed class InboxHubTests(InboxHubFixture fixture) : IClassFixture<InboxHubFixture>
{
    private readonly HubFixture _hub = fixture.Hub;
    private readonly WebhookReceiver _receiver = fixture.Receiver;

    private Task<SignalRTestClient> ConnectAsync(Agent agent) => SignalRTestClient.ConnectAsync(_hub.Server, agent.Token);

    private static Func<System.Text.Json.Nodes.JsonObject, bool> Conversation(string id, string? status = null) =>
        c => c["conversation_id"]?.GetValue<string>() == id && (status is null || c["status"]?.GetValue<string>() == status);

    private static string? Error(System.Text.Json.Nodes.JsonObject completion) => completion["error"]?.GetValue<string>();

    /// <summary>
    /// A refusal's "409 conflict: …". SignalR puts a HubException's message after its own words on the wire:
    /// "An unexpected error occurred invoking 'Claim' on the server. HubException: 409 conflict: …".
    /// </summary>
    private static string Refusal(System.Text.Json.Nodes.JsonObject completion)
    {
        var error = Error(completion);
        Assert.False(error is null, $"expected a refusal, got {completion.ToJsonString()}");
        const string marker = "HubException: ";
        Assert.Contains(marker, error);
        Assert.Null(completion["result"]);
        return error[(error.IndexOf(marker, StringComparison.Ordinal) + marker.Length)..];
    }

    [Fact]
    public async Task Connections_without_a_valid_agent_session_are_refused()
    {
        var bot = await _hub.CreateInboxBotAsync();
        using var anonymous = _hub.CreateClient();

        var negotiate = await anonymous.PostAsync("/hubs/inbox/negotiate?negotiateVersion=1", null);
        await negotiate.AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        var socket = _hub.Server.CreateWebSocketClient();
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => socket.ConnectAsync(new Uri("ws://localhost/hubs/inbox"), CancellationToken.None));
        Assert.Contains("401", refused.Message);
        await Assert.ThrowsAnyAsync<Exception>(() => SignalRTestClient.ConnectAsync(_hub.Server, "hub_at_made-up"));

        // A bot key is valid, but not an agent.
        var botNegotiate = await anonymous.PostAsync($"/hubs/inbox/negotiate?negotiateVersion=1&access_token={bot.ApiKey}", null);
        await botNegotiate.AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");

        // A session ended by logout no longer connects.
        var agent = await _hub.CreateAgentAsync([bot.Id]);
        var ok = await anonymous.PostAsync($"/hubs/inbox/negotiate?negotiateVersion=1&access_token={agent.Token}", null);
        await ok.AssertStatusAsync(HttpStatusCode.OK);
        await (await agent.Client.PostAsync("/v1/auth/logout", null)).AssertStatusAsync(HttpStatusCode.NoContent);
        var ended = await anonymous.PostAsync($"/hubs/inbox/negotiate?negotiateVersion=1&access_token={agent.Token}", null);
        await ended.AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Theory]
    [InlineData("logout")]
    [InlineData("delete")]
    [InlineData("narrower scope")]
    public async Task An_open_connection_can_do_nothing_once_its_session_has_ended(string ending)
    {
        var bot = await _hub.CreateInboxBotAsync();
        var agent = await _hub.CreateAgentAsync([bot.Id]);
        await using var inbox = await ConnectAsync(agent);
        var conversationId = await bot.NewConversationAsync();
        using var admin = _hub.Admin();
        switch (ending)
        {
            case "logout":
                await (await agent.Client.PostAsync("/v1/auth/logout", null)).AssertStatusAsync(HttpStatusCode.NoContent);
                break;
            case "delete":
                await (await admin.DeleteAsync($"/v1/agents/{agent.Id}")).AssertStatusAsync(HttpStatusCode.NoContent);
                break;
            default:
                var elsewhere = await _hub.CreateInboxBotAsync();
                await (await admin.PatchAsJsonAsync($"/v1/agents/{agent.Id}", new { bot_ids = new[] { elsewhere.Id } })).AssertStatusAsync(HttpStatusCode.OK);
                break;
        }

        // Refused, and the server closes the connection (the refusal may not get out before the close).
        try
        {
            Assert.StartsWith("401 unauthorized", Refusal(await inbox.InvokeAsync("Claim", conversationId)));
        }
        catch (InvalidOperationException)
        {
        }
        await Eventually.GetAsync(() => Task.FromResult(inbox.Closed), "the server to close the connection");
        Assert.Equal("bot", await bot.Client.StatusAsync(conversationId));
    }

    [Fact]
    public async Task A_full_handoff_plays_out_live_on_two_agents_inboxes()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        var agentA = await _hub.CreateAgentAsync([bot.Id], name: "Ada");
        var agentB = await _hub.CreateAgentAsync([bot.Id], name: "Bob");
        await using var a = await ConnectAsync(agentA);
        await using var b = await ConnectAsync(agentB);
        var conversationId = await bot.NewConversationAsync();

        // The user asks for a person: both queues hear of it.
        await (await bot.Client.SendMessageAsync(conversationId, "Please get me a human")).AssertStatusAsync(HttpStatusCode.Accepted);
        await a.WaitForAsync("conversationUpdated", Conversation(conversationId, "pending_human"));
        await b.WaitForAsync("conversationUpdated", Conversation(conversationId, "pending_human"));
        var asked = await a.WaitForAsync("messageCreated", Conversation(conversationId));
        Assert.Equal("Please get me a human", asked.Arg.Str("content"));
        Assert.Equal("user", asked.Arg.Str("from"));

        // A claims; B's claim is refused.
        var claimed = await a.InvokeAsync("Claim", conversationId);
        Assert.Null(Error(claimed));
        Assert.Equal("human", claimed["result"]!.Str("status"));
        Assert.Equal(agentA.Id, claimed["result"]!.Str("assigned_agent_id"));
        Assert.StartsWith("409 conflict", Refusal(await b.InvokeAsync("Claim", conversationId)));
        var seenByB = await b.WaitForAsync("conversationUpdated", Conversation(conversationId, "human"));
        Assert.Equal(agentA.Id, seenByB.Arg.Str("assigned_agent_id"));

        // A replies: B sees it live, the bot's webhook gets it as a human reply.
        var replied = await a.InvokeAsync("Reply", conversationId, "Hello, Ada here.");
        Assert.Null(Error(replied));
        Assert.Equal("human", replied["result"]!.Str("from"));
        var reply = await b.WaitForAsync("messageCreated", m => Conversation(conversationId)(m) && m.Str("from") == "human");
        Assert.Equal("Hello, Ada here.", reply.Arg.Str("content"));
        Assert.Equal(replied["result"]!.Str("message_id"), reply.Arg.Str("message_id"));
        var webhook = await _receiver.EventForAsync("message.reply", conversationId);
        Assert.Equal("human", webhook.Data.Str("from"));
        Assert.Equal("Hello, Ada here.", webhook.Data.Text());
        Assert.Equal(0, webhook.Data["usage"]!["tokens"]!["total_tokens"]!.GetValue<int>());
        Assert.StartsWith("409 conflict", Refusal(await b.InvokeAsync("Reply", conversationId, "Let me butt in")));

        // The user writes again: A sees it live, and the caller is told people have it.
        var again = await bot.Client.SendMessageAsync(conversationId, "My order number is 1234");
        await again.AssertStatusAsync(HttpStatusCode.Accepted);
        Assert.Equal("handed_off", (await again.JsonAsync()).Str("status"));
        var live = await a.WaitForAsync("messageCreated", m => Conversation(conversationId)(m) && m.Str("content") == "My order number is 1234");
        Assert.Equal("user", live.Arg.Str("from"));

        // A hands back: the bot answers the next message.
        var handedBack = await a.InvokeAsync("HandBack", conversationId);
        Assert.Null(Error(handedBack));
        Assert.Equal("bot", handedBack["result"]!.Str("status"));
        await b.WaitForAsync("conversationUpdated", Conversation(conversationId, "bot"));
        var answer = await bot.Client.SendMessageAsync(conversationId, InboxKit.KnownQuestion);
        await answer.AssertStatusAsync(HttpStatusCode.OK);
        Assert.Equal("ai", (await answer.JsonAsync()).Str("from"));
        var aiReply = await b.WaitForAsync("messageCreated", m => Conversation(conversationId)(m) && m.Str("from") == "ai");
        Assert.Equal(InboxKit.Knowledge[0], aiReply.Arg.Str("content"));
    }

    [Fact]
    public async Task Close_through_the_hub_reaches_every_inbox_and_refuses_further_actions()
    {
        var bot = await _hub.CreateInboxBotAsync();
        var agentA = await _hub.CreateAgentAsync([bot.Id]);
        var agentB = await _hub.CreateAgentAsync([bot.Id]);
        await using var a = await ConnectAsync(agentA);
        await using var b = await ConnectAsync(agentB);
        var conversationId = await bot.NewConversationAsync();
        await (await bot.Client.PostAsync($"/v1/conversations/{conversationId}/handoff", null)).AssertStatusAsync(HttpStatusCode.OK);
        await b.WaitForAsync("conversationUpdated", Conversation(conversationId, "pending_human"));

        Assert.StartsWith("400 validation_failed", Refusal(await a.InvokeAsync("Reply", conversationId, "")));
        var closed = await a.InvokeAsync("Close", conversationId);

        Assert.Null(Error(closed));
        Assert.Equal("closed", closed["result"]!.Str("status"));
        await b.WaitForAsync("conversationUpdated", Conversation(conversationId, "closed"));
        Assert.StartsWith("409 conversation_closed", Refusal(await b.InvokeAsync("Claim", conversationId)));
        Assert.StartsWith("409 conversation_closed", Refusal(await a.InvokeAsync("HandBack", conversationId)));
        Assert.StartsWith("404 not_found", Refusal(await a.InvokeAsync("Claim", "conv_missing")));
        Assert.Equal("closed", await bot.Client.StatusAsync(conversationId));
    }

    [Fact]
    public async Task A_handoff_made_by_the_ai_worker_reaches_the_inbox_too()
    {
        var bot = await _hub.CreateInboxBotAsync(onNoAnswer: true);
        var agent = await _hub.CreateAgentAsync([bot.Id]);
        await using var inbox = await ConnectAsync(agent);
        var conversationId = await bot.NewConversationAsync();

        await (await bot.Client.SendMessageAsync(conversationId, InboxKit.UnknownQuestion)).AssertStatusAsync(HttpStatusCode.Accepted);

        var updated = await inbox.WaitForAsync("conversationUpdated", Conversation(conversationId, "pending_human"));
        Assert.Equal(bot.Id, updated.Arg.Str("bot_id"));
        Assert.Equal(InboxKit.UnknownQuestion, (await inbox.WaitForAsync("messageCreated", Conversation(conversationId))).Arg.Str("content"));
    }

    [Fact]
    public async Task A_scoped_agent_hears_only_its_bots_conversations()
    {
        var mine = await _hub.CreateInboxBotAsync();
        var others = await _hub.CreateInboxBotAsync();
        var scoped = await _hub.CreateAgentAsync([mine.Id]);
        await using var inbox = await ConnectAsync(scoped);
        var hidden = await others.NewConversationAsync();
        var visible = await mine.NewConversationAsync();

        await (await others.Client.SendMessageAsync(hidden, "human please")).AssertStatusAsync(HttpStatusCode.Accepted);
        await (await mine.Client.SendMessageAsync(visible, "human please")).AssertStatusAsync(HttpStatusCode.Accepted);

        // Both were announced in this order; by the time the second arrives, the first would have.
        await inbox.WaitForAsync("conversationUpdated", Conversation(visible, "pending_human"));
        await inbox.WaitForAsync("messageCreated", Conversation(visible));
        Assert.DoesNotContain(inbox.Events, e => e.Arg["conversation_id"]?.GetValue<string>() == hidden);
        Assert.StartsWith("404 not_found", Refusal(await inbox.InvokeAsync("Claim", hidden)));
        Assert.Equal("pending_human", await others.Client.StatusAsync(hidden));
    }
}

/// <summary>Typing indicators, in their own class: they take the 5 s expiry to show.</summary>
public sealed class InboxTypingTests(InboxHubFixture fixture) : IClassFixture<InboxHubFixture>
{
    private readonly HubFixture _hub = fixture.Hub;

    [Fact]
    public async Task Typing_shows_on_other_inboxes_and_expires_without_a_new_signal()
    {
        var bot = await _hub.CreateInboxBotAsync();
        var agentA = await _hub.CreateAgentAsync([bot.Id], name: "Ada");
        var agentB = await _hub.CreateAgentAsync([bot.Id], name: "Bob");
        await using var a = await SignalRTestClient.ConnectAsync(_hub.Server, agentA.Token);
        await using var b = await SignalRTestClient.ConnectAsync(_hub.Server, agentB.Token);
        var conversationId = await bot.NewConversationAsync();
        await (await bot.Client.PostAsync($"/v1/conversations/{conversationId}/handoff", null)).AssertStatusAsync(HttpStatusCode.OK);
        Assert.Null((await a.InvokeAsync("Claim", conversationId))["error"]);

        var typed = await a.InvokeAsync("Typing", conversationId);

        Assert.Null(typed["error"]);
        var active = await b.WaitForAsync("typing", t => t.Str("conversation_id") == conversationId && t["active"]!.GetValue<bool>());
        Assert.Equal("Ada", active.Arg.Str("from"));
        var stopped = await b.WaitForAsync("typing", t => t.Str("conversation_id") == conversationId && !t["active"]!.GetValue<bool>(),
            timeout: TimeSpan.FromSeconds(10));
        Assert.Equal("Ada", stopped.Arg.Str("from"));
        var events = b.Events.Where(e => e.Target == "typing").ToList();
        Assert.True(events.IndexOf(active) < events.IndexOf(stopped), "active, then inactive");
    }

    [Fact]
    public async Task Many_typing_signals_keep_one_timer_per_typing_agent_and_none_once_they_expire_or_stop()
    {
        var bot = await _hub.CreateInboxBotAsync();
        var conversations = new List<string>();
        for (var i = 0; i < 5; i++) conversations.Add(await bot.NewConversationAsync());
        var clock = new ManualClock();
        var tracker = new TypingTracker(_hub.Services.GetRequiredService<Microsoft.AspNetCore.SignalR.IHubContext<InboxHub>>(), _hub.Services.GetRequiredService<HubDb>(), clock,
            NullLogger<TypingTracker>.Instance);
        var ada = Agent("agt_ada");
        var bob = Agent("agt_bob");

        // A keystroke each: 100 signals per conversation from Ada, and Bob typing in the first one.
        for (var i = 0; i < 100; i++)
            foreach (var conversationId in conversations) await tracker.SignalAsync(ada, conversationId);
        await tracker.SignalAsync(bob, conversations[0]);

        Assert.Equal(6, tracker.Active);
        Assert.Equal(6, clock.LiveTimers);
        await tracker.StopAsync(bob, conversations[0]);
        Assert.Equal((5, 5), (tracker.Active, clock.LiveTimers));

        clock.Advance(TypingTracker.Expiry);

        Assert.Equal((0, 0), (tracker.Active, clock.LiveTimers));
        Assert.Equal(6, clock.CreatedTimers);
    }

    [Fact]
    public async Task A_new_signal_moves_the_expiry()
    {
        var bot = await _hub.CreateInboxBotAsync();
        var conversationId = await bot.NewConversationAsync();
        var clock = new ManualClock();
        var tracker = new TypingTracker(_hub.Services.GetRequiredService<Microsoft.AspNetCore.SignalR.IHubContext<InboxHub>>(), _hub.Services.GetRequiredService<HubDb>(), clock,
            NullLogger<TypingTracker>.Instance);
        var ada = Agent("agt_ada");

        await tracker.SignalAsync(ada, conversationId);
        clock.Advance(TypingTracker.Expiry - TimeSpan.FromSeconds(1));
        await tracker.SignalAsync(ada, conversationId);
        clock.Advance(TimeSpan.FromSeconds(2));

        Assert.Equal(1, tracker.Active);
        clock.Advance(TypingTracker.Expiry);
        Assert.Equal(0, tracker.Active);
    }

    [Fact]
    public async Task A_timer_that_fires_before_the_deadline_still_ends_the_indicator_at_the_deadline()
    {
        // The system timer counts milliseconds of its own and may fire a little before the deadline as the
        // clock's timestamp reads it; the indicator then stuck for good ("typing" never turned inactive).
        var bot = await _hub.CreateInboxBotAsync();
        var conversationId = await bot.NewConversationAsync();
        var clock = new ManualClock();
        var tracker = new TypingTracker(_hub.Services.GetRequiredService<Microsoft.AspNetCore.SignalR.IHubContext<InboxHub>>(), _hub.Services.GetRequiredService<HubDb>(), clock,
            NullLogger<TypingTracker>.Instance);
        var ada = Agent("agt_ada");

        await tracker.SignalAsync(ada, conversationId);
        clock.Advance(TypingTracker.Expiry - TimeSpan.FromMilliseconds(2));
        clock.FireEarly();

        Assert.Equal((1, 1), (tracker.Active, clock.LiveTimers));
        clock.Advance(TimeSpan.FromMilliseconds(2));
        Assert.Equal((0, 0), (tracker.Active, clock.LiveTimers));
    }

    /// <summary>An agent allowed every bot, as the inbox hub sees one.</summary>
    private static ClaimsPrincipal Agent(string id) => new(new ClaimsIdentity(
        [new Claim(HubClaims.AgentIdClaim, id), new Claim(HubClaims.AgentNameClaim, id), new Claim(ClaimTypes.Role, HubClaims.AgentRole)], "test"));

    /// <summary>Time the test moves by hand; counts the timers made and those not yet disposed.</summary>
    private sealed class ManualClock : TimeProvider
    {
        private readonly List<ManualTimer> _timers = [];
        private long _now;
        public int CreatedTimers { get; private set; }
        public int LiveTimers { get { lock (_timers) return _timers.Count; } }
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Interlocked.Read(ref _now);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = new ManualTimer(this, callback, state);
            lock (_timers) { _timers.Add(timer); CreatedTimers++; }
            timer.Change(dueTime, period);
            return timer;
        }

        /// <summary>Every armed timer fires now, before it is due (as a system timer may, by a millisecond or so).</summary>
        public void FireEarly()
        {
            List<ManualTimer> armed;
            lock (_timers) armed = _timers.Where(t => t.Due is not null).ToList();
            foreach (var timer in armed)
            {
                timer.Due = null;
                timer.Callback(timer.State);
            }
        }

        public void Advance(TimeSpan by)
        {
            var now = Interlocked.Add(ref _now, by.Ticks);
            List<ManualTimer> due;
            lock (_timers) due = _timers.Where(t => t.Due is { } d && d <= now).ToList();
            foreach (var timer in due)
            {
                timer.Due = null;
                timer.Callback(timer.State);
            }
        }

        private sealed class ManualTimer(ManualClock clock, TimerCallback callback, object? state) : ITimer
        {
            public readonly TimerCallback Callback = callback;
            public readonly object? State = state;
            public long? Due;

            public bool Change(TimeSpan dueTime, TimeSpan period)
            {
                Due = dueTime == Timeout.InfiniteTimeSpan ? null : clock.GetTimestamp() + dueTime.Ticks;
                return true;
            }

            public void Dispose()
            {
                lock (clock._timers) clock._timers.Remove(this);
            }

            public ValueTask DisposeAsync()
            {
                Dispose();
                return ValueTask.CompletedTask;
            }
        }
    }

    [Fact]
    public async Task A_reply_ends_the_typing_indicator_at_once()
    {
        var bot = await _hub.CreateInboxBotAsync();
        var agentA = await _hub.CreateAgentAsync([bot.Id], name: "Ada");
        var agentB = await _hub.CreateAgentAsync([bot.Id], name: "Bob");
        await using var a = await SignalRTestClient.ConnectAsync(_hub.Server, agentA.Token);
        await using var b = await SignalRTestClient.ConnectAsync(_hub.Server, agentB.Token);
        var conversationId = await bot.NewConversationAsync();
        Assert.Null((await a.InvokeAsync("Claim", conversationId))["error"]);

        Assert.Null((await a.InvokeAsync("Typing", conversationId))["error"]);
        await b.WaitForAsync("typing", t => t.Str("conversation_id") == conversationId && t["active"]!.GetValue<bool>());
        Assert.Null((await a.InvokeAsync("Reply", conversationId, "Done typing."))["error"]);

        // Well before the 5 s expiry would.
        await b.WaitForAsync("typing", t => t.Str("conversation_id") == conversationId && !t["active"]!.GetValue<bool>(),
            timeout: TimeSpan.FromSeconds(3.5));
    }
}

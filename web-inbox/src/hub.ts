/** The SignalR connection to /hubs/inbox: the agent's actions and the live events. */
import { HubConnection, HubConnectionBuilder, HubConnectionState, LogLevel } from '@microsoft/signalr';
import type { Conversation, Message } from './api';

export interface Typing {
  conversation_id: string;
  /** The typing agent's name. */
  from: string;
  agent_id: string;
  active: boolean;
}

export type LinkState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

export interface HubEvents {
  conversationUpdated(conversation: Conversation): void;
  messageCreated(message: Message): void;
  typing(typing: Typing): void;
  /** After a reconnect (events may have been missed): reload what is on screen. */
  resync(): void;
  state(state: LinkState): void;
  /** The hub refused the token: the session ended. */
  unauthorized(): void;
}

export class InboxHub {
  private readonly connection: HubConnection;
  private stopped = false;
  private retryTimer: number | undefined;

  /** `token` is the login's access_token; without it (after a page reload) the session cookie authenticates. */
  constructor(token: string | null, private readonly events: HubEvents) {
    this.connection = new HubConnectionBuilder()
      .withUrl('/hubs/inbox', token ? { accessTokenFactory: () => token } : {})
      .withAutomaticReconnect([0, 2000, 5000, 10000, 20000, 30000])
      .configureLogging(LogLevel.Warning)
      .build();
    this.connection.on('conversationUpdated', (c: Conversation) => events.conversationUpdated(c));
    this.connection.on('messageCreated', (m: Message) => events.messageCreated(m));
    this.connection.on('typing', (t: Typing) => events.typing(t));
    this.connection.onreconnecting(() => events.state('reconnecting'));
    this.connection.onreconnected(() => {
      events.state('connected');
      events.resync();
    });
    // Automatic reconnection gave up: keep trying every 10 s until stopped.
    this.connection.onclose(() => {
      if (this.stopped) return;
      events.state('disconnected');
      this.retryTimer = window.setTimeout(() => void this.start(true), 10_000);
    });
  }

  async start(resync = false): Promise<void> {
    if (this.stopped || this.connection.state !== HubConnectionState.Disconnected) return;
    this.events.state('connecting');
    try {
      await this.connection.start();
      this.events.state('connected');
      if (resync) this.events.resync();
    } catch (e) {
      if (String(e).includes('401')) {
        this.events.unauthorized();
        return;
      }
      this.events.state('disconnected');
      this.retryTimer = window.setTimeout(() => void this.start(true), 10_000);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    window.clearTimeout(this.retryTimer);
    await this.connection.stop();
  }

  claim = (conversationId: string) => this.connection.invoke<Conversation>('Claim', conversationId);
  reply = (conversationId: string, text: string) => this.connection.invoke<Message>('Reply', conversationId, text);
  handBack = (conversationId: string) => this.connection.invoke<Conversation>('HandBack', conversationId);
  close = (conversationId: string) => this.connection.invoke<Conversation>('Close', conversationId);
  typing = (conversationId: string) => this.connection.send('Typing', conversationId);
}

/**
 * A refused action's text. The hub throws "409 conflict: Another agent has claimed this conversation.",
 * which the client receives wrapped as "An unexpected error occurred invoking 'Claim' on the server.
 * HubException: 409 conflict: …".
 */
export function refusal(error: unknown): { detail: string; code: string | null } {
  const text = error instanceof Error ? error.message : String(error);
  const raw = text.includes('HubException: ') ? text.slice(text.indexOf('HubException: ') + 'HubException: '.length) : text;
  const match = /^(\d{3} [a-z_]+): (.*)$/s.exec(raw);
  return match ? { code: match[1], detail: match[2] } : { code: null, detail: raw };
}

import { api, ApiError, type Agent, type Conversation, type Delivery, type Message } from '../api';
import { credits, fill, h, number, time } from '../dom';
import { refusal, type InboxHub } from '../hub';
import { STATUS_LABEL } from './labels';

export interface ThreadContext {
  /** A conversation the thread changed (claim, hand back, close): the inbox updates its list. */
  conversationChanged(c: Conversation): void;
  botName(id: string): string | null;
  agentName(id: string): string | null;
}

const WHO: Record<Message['from'], string> = { user: 'User', ai: 'AI', human: 'Agent' };
const POLL_MS = 4000;
/** How long a fresh reply without a delivery keeps the poll alive (a bot without a webhook never gets one). */
const AWAIT_DELIVERY_MS = 30_000;
const TYPING_EVERY_MS = 1000;

/**
 * One conversation: who said what, each AI reply's usage and every reply's webhook delivery, the actions
 * (claim, hand back, close) and the composer. The elements are built once; opening another conversation
 * refills them, so focus and the composer's text survive live updates.
 */
export class ThreadView {
  readonly el = h('section', { class: 'thread', 'data-testid': 'thread', 'aria-labelledby': 'thread-title' });

  private conversation: Conversation | null = null;
  private messages: Message[] = [];
  private deliveries = new Map<string, Delivery>();
  private readonly sentByMe = new Set<string>();
  private lastTypingSent = 0;
  private pollTimer: number | undefined;
  private openSeq = 0;

  private readonly title = h('h2', { id: 'thread-title' });
  private readonly subtitle = h('p', { class: 'thread-sub muted' });
  private readonly reasonEl = h('p', { class: 'handoff-reason', 'data-testid': 'handoff-reason', hidden: true });
  private readonly claimButton = h('button', { type: 'button', class: 'primary', 'data-testid': 'claim' }, 'Claim');
  private readonly handBackButton = h('button', { type: 'button', 'data-testid': 'hand-back' }, 'Hand back to bot');
  private readonly closeButton = h('button', { type: 'button', class: 'danger', 'data-testid': 'close' }, 'Close');
  private readonly errorText = h('span');
  private readonly errorEl = h('div', { class: 'error', role: 'alert', 'data-testid': 'error', hidden: true },
    this.errorText,
    h('button', { type: 'button', class: 'quiet small dismiss', 'aria-label': 'Dismiss the error', onclick: () => this.clearError() }));
  private readonly log = h('ol', { class: 'messages', role: 'log', 'aria-live': 'polite', 'aria-label': 'Messages' });
  private readonly typingEl = h('p', { class: 'typing', 'data-testid': 'typing-indicator', 'aria-live': 'polite', hidden: true });
  private readonly input = h('textarea', {
    id: 'composer-input', rows: 3, 'data-testid': 'composer',
    placeholder: 'Write a reply. Enter sends, Shift+Enter starts a new line.',
  });
  private readonly hint = h('span', { class: 'muted composer-hint' });
  private readonly sendButton = h('button', { type: 'submit', class: 'primary', 'data-testid': 'send' }, 'Send');
  private readonly form = h('form', { class: 'composer' },
    h('label', { for: 'composer-input', class: 'sr-only' }, 'Reply to the user'),
    this.input,
    h('div', { class: 'composer-row' }, this.hint, this.sendButton));
  private readonly body = h('div', { class: 'thread-body' });
  private readonly empty = h('div', { class: 'thread-empty' },
    h('h2', { id: 'thread-title' }, 'No conversation selected'),
    h('p', { class: 'muted' }, 'Pick a conversation from the list to read it and reply.'));

  constructor(private readonly me: Agent, private readonly hub: InboxHub, private readonly ctx: ThreadContext) {
    this.claimButton.addEventListener('click', () => this.act(this.claimButton, (id) => this.hub.claim(id)));
    this.handBackButton.addEventListener('click', () => this.act(this.handBackButton, (id) => this.hub.handBack(id)));
    this.closeButton.addEventListener('click', () => this.act(this.closeButton, (id) => this.hub.close(id)));
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.send();
    });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        void this.send();
      }
    });
    this.input.addEventListener('input', () => this.signalTyping());

    fill(this.body,
      h('header', { class: 'thread-head' },
        h('div', { class: 'thread-heading' }, this.title, this.subtitle, this.reasonEl),
        h('div', { class: 'actions', role: 'group', 'aria-label': 'Conversation actions' }, this.claimButton, this.handBackButton, this.closeButton)),
      this.errorEl,
      this.log,
      this.typingEl,
      this.form);
    fill(this.el, this.empty);
  }

  open(c: Conversation): void {
    const same = this.conversation?.conversation_id === c.conversation_id;
    this.conversation = c;
    if (same) {
      this.update(c);
      return;
    }
    this.messages = [];
    this.deliveries.clear();
    this.input.value = '';
    this.clearError();
    this.setTyping([]);
    fill(this.log, h('li', { class: 'muted loading' }, 'Loading messages…'));
    fill(this.el, this.body);
    this.update(c);
    this.reload();
  }

  /** Fetches the messages and deliveries again (on open and after a reconnect). */
  reload(): void {
    const c = this.conversation;
    if (!c) return;
    const seq = ++this.openSeq;
    api.messages(c.conversation_id).then((messages) => {
      if (seq !== this.openSeq) return;
      for (const m of messages) this.merge(m);
      this.renderMessages(true);
      void this.loadDeliveries();
    }, (e: Error) => {
      if (seq === this.openSeq) fill(this.log, h('li', { class: 'form-error' }, `Could not load the messages: ${e.message}`));
    });
  }

  update(c: Conversation): void {
    this.conversation = c;
    this.refreshHeader();
  }

  refreshHeader(): void {
    const c = this.conversation;
    if (!c) return;
    const mine = c.status === 'human' && c.assigned_agent_id === this.me.id;
    const heldByOther = c.status === 'human' && !mine;
    const admin = this.me.role === 'admin';
    const holder = c.assigned_agent_id ? (c.assigned_agent_id === this.me.id ? 'you' : this.ctx.agentName(c.assigned_agent_id) ?? 'another agent') : null;

    this.title.textContent = c.user_id ? `User ${c.user_id}` : c.conversation_id;
    fill(this.subtitle,
      h('span', { class: `badge status-${c.status}`, 'data-testid': 'thread-status', 'data-status': c.status }, mine ? 'Yours' : STATUS_LABEL[c.status]),
      heldByOther ? ` held by ${holder}` : '',
      ' · ', this.ctx.botName(c.bot_id) ?? h('span', {}, 'bot ', h('code', {}, c.bot_id)),
      ' · ', h('code', {}, c.conversation_id));
    // The reason stays after a hand-back, so it is labelled as the last handoff's once people let go.
    this.reasonEl.hidden = !c.handoff_reason;
    fill(this.reasonEl, ...(c.handoff_reason
      ? [h('span', { class: 'muted' }, c.status === 'pending_human' || c.status === 'human' ? 'Handoff reason: ' : 'Last handoff: '), c.handoff_reason]
      : []));

    // Claim stays offered while another agent holds the conversation: the hub then says why it refuses.
    this.claimButton.hidden = !(c.status === 'bot' || c.status === 'pending_human' || heldByOther);
    this.claimButton.title = c.status === 'bot' ? 'Take the conversation over from the bot' : '';
    // Hand back needs a holder (a queued conversation is claimed first); an admin may hand back anyone's.
    this.handBackButton.hidden = !(mine || (heldByOther && admin));
    this.closeButton.hidden = c.status === 'closed' || (heldByOther && !admin);

    this.input.disabled = !mine;
    this.sendButton.disabled = !mine;
    this.hint.textContent = mine ? 'Enter to send · Shift+Enter for a new line'
      : c.status === 'closed' ? 'The conversation is closed.'
      : heldByOther ? `Held by ${holder}.`
      : 'Claim the conversation to reply.';
  }

  addMessage(m: Message): void {
    if (m.conversation_id !== this.conversation?.conversation_id) return;
    this.merge(m);
    this.renderMessages(false);
    if (m.from !== 'user') this.schedulePoll();
  }

  setTyping(names: string[]): void {
    this.typingEl.hidden = names.length === 0;
    this.typingEl.textContent = names.length === 0 ? ''
      : names.length === 1 ? `${names[0]} is typing…`
      : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]} are typing…`;
  }

  destroy(): void {
    window.clearTimeout(this.pollTimer);
    this.openSeq++;
  }

  private merge(m: Message): void {
    const at = this.messages.findIndex((x) => x.message_id === m.message_id);
    if (at >= 0) this.messages[at] = m;
    else this.messages.push(m);
    this.messages.sort((a, b) => a.sequence - b.sequence);
  }

  private renderMessages(forceBottom: boolean): void {
    const nearBottom = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 80;
    fill(this.log, ...(this.messages.length ? this.messages.map((m) => this.messageEl(m)) : [h('li', { class: 'muted' }, 'No messages yet.')]));
    if (forceBottom || nearBottom) this.log.scrollTop = this.log.scrollHeight;
  }

  private messageEl(m: Message): HTMLElement {
    const who = m.from === 'human' && this.sentByMe.has(m.message_id) ? 'Agent (you)' : WHO[m.from];
    return h('li', { class: `msg msg-${m.from}`, 'data-testid': 'message', 'data-from': m.from, 'data-message-id': m.message_id },
      h('div', { class: 'msg-meta' },
        h('span', { class: `who who-${m.from}` }, who),
        h('time', { datetime: m.created_at }, time(m.created_at))),
      h('div', { class: 'msg-text' }, m.content),
      m.from === 'user' ? null : h('div', { class: 'msg-foot' },
        m.from === 'ai' && m.usage ? usageEl(m) : null,
        this.deliveryEl(m)));
  }

  private deliveryEl(m: Message): HTMLElement | null {
    const d = this.deliveries.get(m.message_id);
    if (!d) return null;
    const base = { class: 'delivery', 'data-testid': 'delivery-status', 'data-delivery-id': d.delivery_id };
    const detail = d.last_error ?? (d.last_status_code ? `HTTP ${d.last_status_code}` : '');
    switch (d.status) {
      case 'succeeded':
        return h('span', { ...base, 'data-status': 'delivered', class: 'delivery delivery-ok', title: `Delivered to the webhook (attempt ${d.attempt_count})` },
          '✓ Delivered');
      case 'pending':
        return d.attempt_count === 0
          ? h('span', { ...base, 'data-status': 'sending', class: 'delivery delivery-pending' }, 'Sending…')
          : h('span', { ...base, 'data-status': 'retrying', class: 'delivery delivery-pending', title: detail },
            `↻ Retrying${d.next_attempt_at ? ` at ${time(d.next_attempt_at)}` : ''} (${d.attempt_count} attempt${d.attempt_count === 1 ? '' : 's'} so far${detail ? `, last: ${detail}` : ''})`);
      case 'failed': {
        const retry = h('button', { type: 'button', class: 'small', 'data-testid': 'delivery-retry' }, 'Retry');
        retry.addEventListener('click', () => void this.retry(d, retry));
        return h('span', { ...base, 'data-status': 'failed', class: 'delivery delivery-failed', title: detail },
          `✗ Delivery failed after ${d.attempt_count} attempt${d.attempt_count === 1 ? '' : 's'}`, detail ? ` (${detail})` : '', ' ', retry);
      }
    }
  }

  private async loadDeliveries(): Promise<void> {
    const c = this.conversation;
    if (!c) return;
    const seq = this.openSeq;
    try {
      const list = await api.replyDeliveries(c.conversation_id);
      if (seq !== this.openSeq) return;
      this.deliveries.clear();
      // Oldest first, so a later delivery of the same message (a recovery) wins.
      for (const d of list) if (d.message_id) this.deliveries.set(d.message_id, d);
      this.renderMessages(false);
    } catch {
      /* shown as no status; the next poll tries again */
    }
    this.schedulePoll();
  }

  /** Polls while a delivery is pending or a fresh reply has none yet. */
  private schedulePoll(): void {
    window.clearTimeout(this.pollTimer);
    const now = Date.now();
    const waiting = [...this.deliveries.values()].some((d) => d.status === 'pending')
      || this.messages.some((m) => m.from !== 'user' && !this.deliveries.has(m.message_id) && now - Date.parse(m.created_at) < AWAIT_DELIVERY_MS);
    if (waiting) this.pollTimer = window.setTimeout(() => void this.loadDeliveries(), POLL_MS);
  }

  private async retry(d: Delivery, button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    try {
      const updated = await api.retryDelivery(d.delivery_id);
      if (updated.message_id) this.deliveries.set(updated.message_id, updated);
      this.renderMessages(false);
      this.schedulePoll();
    } catch (e) {
      button.disabled = false;
      this.showError(e instanceof ApiError ? e.message : String(e), e instanceof ApiError ? `${e.status} ${e.code}` : null);
    }
  }

  private async act(button: HTMLButtonElement, action: (id: string) => Promise<Conversation>): Promise<void> {
    const c = this.conversation;
    if (!c) return;
    button.disabled = true;
    try {
      const updated = await action(c.conversation_id);
      this.clearError();
      this.ctx.conversationChanged(updated);
      if (updated.status === 'human' && updated.assigned_agent_id === this.me.id) this.input.focus();
    } catch (e) {
      const { detail, code } = refusal(e);
      this.showError(detail, code);
    } finally {
      button.disabled = false;
      if (!button.hidden && document.activeElement === document.body) button.focus();
    }
  }

  private async send(): Promise<void> {
    const c = this.conversation;
    const text = this.input.value;
    if (!c || this.input.disabled || this.sendButton.disabled || !text.trim()) return;
    this.sendButton.disabled = true;
    try {
      const message = await this.hub.reply(c.conversation_id, text);
      this.sentByMe.add(message.message_id);
      this.input.value = '';
      this.lastTypingSent = 0;
      this.clearError();
      this.addMessage(message);
    } catch (e) {
      const { detail, code } = refusal(e);
      this.showError(detail, code);
    } finally {
      this.refreshHeader();
      this.input.focus();
    }
  }

  /** At most one Typing signal a second while the agent types; the hub expires it 5 s after the last. */
  private signalTyping(): void {
    const c = this.conversation;
    if (!c || this.input.disabled || !this.input.value) return;
    const now = Date.now();
    if (now - this.lastTypingSent < TYPING_EVERY_MS) return;
    this.lastTypingSent = now;
    this.hub.typing(c.conversation_id).catch(() => { /* typing is best effort */ });
  }

  private showError(detail: string, code: string | null): void {
    fill(this.errorText, detail, code ? h('span', { class: 'error-code' }, ` (${code})`) : null);
    this.errorEl.hidden = false;
  }

  private clearError(): void {
    this.errorEl.hidden = true;
    this.errorText.textContent = '';
  }
}

function usageEl(m: Message): HTMLElement {
  const { tokens, credits: c } = m.usage!;
  return h('span', {
    class: 'usage', 'data-testid': 'usage',
    title: `${number(tokens.prompt_tokens)} prompt + ${number(tokens.completion_tokens)} completion tokens; `
      + `${credits(c.text_input_credits)} input + ${credits(c.text_output_credits)} output credits`,
  }, `${number(tokens.total_tokens)} tokens (${number(tokens.prompt_tokens)} in / ${number(tokens.completion_tokens)} out) · ${credits(c.total_credits)} credits`);
}

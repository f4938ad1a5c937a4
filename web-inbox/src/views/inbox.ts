import { api, type Agent, type Conversation, type Counts, type View } from '../api';
import { fill, h, time } from '../dom';
import { InboxHub, type LinkState, type Typing } from '../hub';
import { AdminView } from './admin';
import { STATUS_LABEL } from './labels';
import { ThreadView } from './thread';

type Tab = View | 'admin';

const TABS: { id: View; label: string }[] = [
  { id: 'queue', label: 'Queue' },
  { id: 'mine', label: 'Mine' },
  { id: 'all', label: 'All' },
];

/** Does a conversation belong in a view? The same rules as GET /v1/inbox/conversations. */
function belongs(view: View, c: Conversation, me: Agent): boolean {
  switch (view) {
    case 'queue': return c.status === 'pending_human';
    case 'mine': return c.status === 'human' && c.assigned_agent_id === me.id;
    case 'all': return c.status !== 'closed';
  }
}

/** The signed-in page: header, the queue / mine / all tabs with their list, and the thread (or the admin view). */
export class Inbox {
  private readonly hub: InboxHub;
  private tab: Tab = 'queue';
  private list: Conversation[] = [];
  private counts: Counts = { queue: 0, mine: 0, all: 0 };
  private selected: string | null = null;
  private readonly unread = new Set<string>();
  /** Agents typing, per conversation (agent id → name and a safety timer in case active:false is lost). */
  private readonly typing = new Map<string, Map<string, { name: string; timer: number }>>();
  private readonly botNames = new Map<string, string>();
  private readonly agentNames = new Map<string, string>();
  private refreshTimer: number | undefined;
  private loadSeq = 0;

  private readonly linkEl = h('span', { class: 'link', role: 'status' }, 'Connecting…');
  private readonly tabButtons = new Map<Tab, HTMLButtonElement>();
  private readonly countEls = new Map<View, HTMLElement>();
  private readonly listEl = h('ul', { class: 'conv-list', 'aria-label': 'Conversations' });
  private readonly listStatus = h('p', { class: 'muted list-status' });
  private readonly sidebar: HTMLElement;
  private readonly content = h('div', { class: 'content' });
  private readonly thread: ThreadView;
  private admin: AdminView | null = null;

  constructor(root: HTMLElement, private readonly me: Agent, token: string | null, private readonly loggedOut: () => void) {
    this.agentNames.set(me.id, me.name);
    this.hub = new InboxHub(token, {
      conversationUpdated: (c) => this.conversationUpdated(c),
      messageCreated: (m) => {
        if (m.conversation_id === this.selected) this.thread.addMessage(m);
        else if (m.from === 'user') this.unread.add(m.conversation_id);
        this.renderList();
        this.scheduleRefresh();
      },
      typing: (t) => this.typingChanged(t),
      resync: () => {
        void this.loadList();
        this.thread.reload();
      },
      state: (s) => this.linkChanged(s),
      unauthorized: () => this.loggedOut(),
    });
    this.thread = new ThreadView(me, this.hub, {
      conversationChanged: (c) => this.conversationUpdated(c),
      botName: (id) => this.botNames.get(id) ?? null,
      agentName: (id) => this.agentNames.get(id) ?? null,
    });

    const tabs = h('nav', { class: 'tabs', 'aria-label': 'Inbox views' });
    for (const { id, label } of TABS) {
      const count = h('span', { class: 'count', 'data-testid': `count-${id}` }, '0');
      this.countEls.set(id, count);
      const button = h('button', { type: 'button', class: 'tab', 'data-testid': `tab-${id}`, onclick: () => this.show(id) }, label, ' ', count);
      this.tabButtons.set(id, button);
      tabs.append(button);
    }
    if (me.role === 'admin') {
      const button = h('button', { type: 'button', class: 'tab', 'data-testid': 'tab-admin', onclick: () => this.show('admin') }, 'Admin');
      this.tabButtons.set('admin', button);
      tabs.append(button);
    }

    this.sidebar = h('aside', { class: 'sidebar' }, this.listStatus, this.listEl);
    const header = h('header', { class: 'topbar' },
      h('span', { class: 'brand' }, 'Hub inbox'),
      tabs,
      h('span', { class: 'spacer' }),
      this.linkEl,
      h('span', { class: 'who-am-i' }, me.name, ' ', h('span', { class: 'role' }, me.role)),
      h('button', { type: 'button', class: 'quiet', 'data-testid': 'logout', onclick: () => this.logout() }, 'Log out'));

    fill(root, header, h('main', { class: 'layout' }, this.sidebar, this.content));
    document.title = 'Hub inbox';
    this.show('queue');
    void this.hub.start();
    if (me.role === 'admin') void this.loadNames();
  }

  destroy(): void {
    window.clearTimeout(this.refreshTimer);
    for (const agents of this.typing.values()) for (const t of agents.values()) window.clearTimeout(t.timer);
    this.thread.destroy();
    void this.hub.stop();
  }

  private async logout(): Promise<void> {
    try {
      await api.logout();
    } finally {
      this.loggedOut();
    }
  }

  private show(tab: Tab): void {
    this.tab = tab;
    for (const [id, button] of this.tabButtons) {
      if (id === tab) button.setAttribute('aria-current', 'page');
      else button.removeAttribute('aria-current');
    }
    if (tab === 'admin') {
      this.sidebar.hidden = true;
      this.admin ??= new AdminView();
      fill(this.content, this.admin.el);
      void this.admin.load();
      return;
    }
    this.sidebar.hidden = false;
    fill(this.content, this.thread.el);
    this.list = this.list.filter((c) => belongs(tab, c, this.me));
    this.renderList();
    void this.loadList();
  }

  /** Reloads the current view and every count (the server's word wins over live patches). */
  private async loadList(): Promise<void> {
    const tab = this.tab;
    if (tab === 'admin') return;
    const seq = ++this.loadSeq;
    try {
      const { data, counts } = await api.inbox(tab);
      if (seq !== this.loadSeq || tab !== this.tab) return;
      this.list = data;
      this.counts = counts;
      this.listStatus.textContent = data.length === 0 ? emptyText(tab) : '';
      this.renderList();
    } catch (e) {
      if (seq === this.loadSeq) this.listStatus.textContent = `Could not load the conversations: ${(e as Error).message}`;
    }
  }

  private scheduleRefresh(): void {
    window.clearTimeout(this.refreshTimer);
    this.refreshTimer = window.setTimeout(() => void this.loadList(), 250);
  }

  private conversationUpdated(c: Conversation): void {
    if (this.tab !== 'admin') {
      const rest = this.list.filter((x) => x.conversation_id !== c.conversation_id);
      this.list = belongs(this.tab, c, this.me)
        ? [c, ...rest].sort((a, b) => b.updated_at.localeCompare(a.updated_at))
        : rest;
      this.renderList();
    }
    if (c.conversation_id === this.selected) this.thread.update(c);
    this.scheduleRefresh();
  }

  private select(c: Conversation): void {
    this.selected = c.conversation_id;
    this.unread.delete(c.conversation_id);
    this.thread.open(c);
    this.thread.setTyping(this.typingNames(c.conversation_id));
    this.renderList();
  }

  private renderList(): void {
    for (const [view, el] of this.countEls) el.textContent = String(this.counts[view]);
    const focused = document.activeElement instanceof HTMLElement ? document.activeElement.dataset.conversationId : undefined;
    fill(this.listEl, ...this.list.map((c) => this.item(c)));
    if (focused) this.listEl.querySelector<HTMLElement>(`[data-conversation-id="${CSS.escape(focused)}"]`)?.focus();
  }

  private item(c: Conversation): HTMLElement {
    const mine = c.status === 'human' && c.assigned_agent_id === this.me.id;
    const bot = this.botNames.get(c.bot_id);
    const typing = this.typingNames(c.conversation_id).length > 0;
    return h('li', {},
      h('button', {
        type: 'button',
        class: 'conv',
        'data-testid': 'conversation-item',
        'data-conversation-id': c.conversation_id,
        'data-status': c.status,
        'aria-current': c.conversation_id === this.selected ? 'true' : undefined,
        onclick: () => this.select(c),
      },
      h('span', { class: 'conv-title' }, c.user_id ?? c.conversation_id),
      h('span', { class: `badge status-${c.status}` }, mine ? 'Yours' : STATUS_LABEL[c.status]),
      h('span', { class: 'conv-sub' },
        [bot, `${c.message_count} message${c.message_count === 1 ? '' : 's'}`].filter(Boolean).join(' · '),
        typing ? h('span', { class: 'conv-typing' }, ' · typing…') : null),
      c.handoff_reason && (c.status === 'pending_human' || c.status === 'human')
        ? h('span', { class: 'conv-reason', 'data-testid': 'conversation-reason', title: c.handoff_reason }, c.handoff_reason)
        : null,
      h('time', { class: 'conv-time', datetime: c.updated_at }, time(c.updated_at)),
      this.unread.has(c.conversation_id) ? h('span', { class: 'unread', title: 'New messages' }, h('span', { class: 'sr-only' }, 'New messages')) : null));
  }

  private typingChanged(t: Typing): void {
    if (t.agent_id === this.me.id) return;
    if (this.agentNames.get(t.agent_id) !== t.from) {
      this.agentNames.set(t.agent_id, t.from);
      this.thread.refreshHeader();
    }
    let agents = this.typing.get(t.conversation_id);
    const previous = agents?.get(t.agent_id);
    if (previous) window.clearTimeout(previous.timer);
    if (t.active) {
      agents ??= new Map();
      this.typing.set(t.conversation_id, agents);
      // The hub announces active:false after 5 s of silence; this only guards against a lost announcement.
      agents.set(t.agent_id, { name: t.from, timer: window.setTimeout(() => this.typingChanged({ ...t, active: false }), 8000) });
    } else {
      agents?.delete(t.agent_id);
    }
    if (t.conversation_id === this.selected) this.thread.setTyping(this.typingNames(t.conversation_id));
    this.renderList();
  }

  private typingNames(conversationId: string): string[] {
    return [...(this.typing.get(conversationId)?.values() ?? [])].map((t) => t.name);
  }

  private linkChanged(state: LinkState): void {
    this.linkEl.className = `link link-${state}`;
    this.linkEl.textContent = { connecting: 'Connecting…', connected: 'Live', reconnecting: 'Reconnecting…', disconnected: 'Offline, retrying' }[state];
  }

  /** Admins may read the bots and agents, so their names replace ids. */
  private async loadNames(): Promise<void> {
    try {
      const [bots, agents] = await Promise.all([api.bots(), api.agents()]);
      for (const b of bots) this.botNames.set(b.id, b.name);
      for (const a of agents) this.agentNames.set(a.id, a.name);
      this.renderList();
      this.thread.refreshHeader();
    } catch {
      /* names are a nicety */
    }
  }
}

function emptyText(view: View): string {
  return {
    queue: 'Nobody is waiting for a person.',
    mine: 'You hold no conversations. Claim one from the queue.',
    all: 'No open conversations.',
  }[view];
}

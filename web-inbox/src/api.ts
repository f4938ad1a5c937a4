/** The REST calls the inbox makes. The page rides on the HttpOnly session cookie set by /v1/auth/login. */

export type Role = 'admin' | 'agent';
export type View = 'queue' | 'mine' | 'all';
export type Status = 'bot' | 'pending_human' | 'human' | 'closed';
export type From = 'user' | 'ai' | 'human';

export interface Agent {
  id: string;
  email: string;
  name: string;
  role: Role;
  bot_ids: string[];
}

export interface LoginResult {
  access_token: string;
  expires_at: string;
  agent: Agent;
}

export interface Conversation {
  conversation_id: string;
  bot_id: string;
  user_id: string | null;
  status: Status;
  metadata: Record<string, unknown> | null;
  message_count: number;
  assigned_agent_id: string | null;
  /** Why it was last handed to people; kept after a hand-back (it names the last handoff). */
  handoff_reason?: string | null;
  created_at: string;
  updated_at: string;
  previous_status?: Status;
}

export interface Counts {
  queue: number;
  mine: number;
  all: number;
}

export interface Usage {
  tokens: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  credits: { text_input_credits: number; text_output_credits: number; total_credits: number };
}

export interface Message {
  message_id: string;
  conversation_id: string;
  sequence: number;
  from: From;
  content: string;
  reply_to: string | null;
  created_at: string;
  reply_status?: string;
  usage?: Usage;
}

export interface Delivery {
  delivery_id: string;
  bot_id: string;
  event_type: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempt_count: number;
  next_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
  conversation_id: string | null;
  message_id: string | null;
  created_at: string;
  updated_at: string;
}

export interface Bot {
  id: string;
  name: string;
  model: string | null;
  webhook: { url: string | null; events: string[]; status: string; disabled_reason: string | null };
  handoff: { keywords: string[]; on_no_answer: boolean };
  pricing: { input_credits_per_1k: number; output_credits_per_1k: number };
  created_at: string;
}

export interface UsageReport {
  bot_id: string | null;
  from: string;
  to: string;
  replies: number;
  tokens: Usage['tokens'];
  credits: Usage['credits'];
  data: { date: string; replies: number; tokens: Usage['tokens']; credits: Usage['credits'] }[];
}

interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/** An API refusal, from the contract's problem+json (`code`, `detail`). */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/** Called when a request answers 401 (the session ended). */
let onUnauthorized: () => void = () => {};
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

async function call<T>(method: string, path: string, body?: unknown, quiet401 = false): Promise<T> {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const json = text ? safeJson(text) : undefined;
  if (!response.ok) {
    const problem = (json ?? {}) as { code?: string; detail?: string; title?: string };
    if (response.status === 401 && !quiet401) onUnauthorized();
    throw new ApiError(response.status, problem.code ?? String(response.status),
      problem.detail ?? problem.title ?? `${method} ${path} failed (${response.status})`);
  }
  return json as T;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Follows next_cursor until the end (or `max` items). */
async function all<T>(path: string, max = 2000): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page: Page<T> = await call('GET', cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path);
    items.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}

const q = encodeURIComponent;

export const api = {
  login: (email: string, password: string) => call<LoginResult>('POST', '/v1/auth/login', { email, password }, true),
  logout: () => call<void>('POST', '/v1/auth/logout', undefined, true),
  me: () => call<Agent>('GET', '/v1/auth/me', undefined, true),

  inbox: (view: View) => call<{ data: Conversation[]; counts: Counts }>('GET', `/v1/inbox/conversations?view=${view}&limit=200`),
  messages: (conversationId: string) => all<Message>(`/v1/conversations/${q(conversationId)}/messages?limit=200`),

  /** The message.reply deliveries of one conversation (AI and agent replies). */
  replyDeliveries: (conversationId: string) =>
    all<Delivery>(`/v1/deliveries?event_type=message.reply&conversation_id=${q(conversationId)}&limit=200`),
  retryDelivery: (deliveryId: string) => call<Delivery>('POST', `/v1/deliveries/${q(deliveryId)}/retry`),

  bots: () => all<Bot>('/v1/bots?limit=100'),
  agents: () => call<Page<Agent>>('GET', '/v1/agents').then((page) => page.data),
  usage: (botId: string | null) =>
    call<UsageReport>('GET', `/v1/usage?group_by=day${botId ? `&bot_id=${q(botId)}` : ''}`),
};

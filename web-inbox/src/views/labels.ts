import type { Conversation } from '../api';

export const STATUS_LABEL: Record<Conversation['status'], string> = {
  bot: 'With bot',
  pending_human: 'Waiting',
  human: 'With agent',
  closed: 'Closed',
};

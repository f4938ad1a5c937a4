import './style.css';
import { api, whenUnauthorized, type Agent } from './api';
import { showLogin } from './views/login';
import { Inbox } from './views/inbox';

const root = document.getElementById('app')!;
let inbox: Inbox | null = null;

function login(notice?: string): void {
  inbox?.destroy();
  inbox = null;
  showLogin(root, (result) => open(result.agent, result.access_token), notice);
}

/** `token` is the login's access_token for the hub; after a reload it is null and the session cookie is used. */
function open(agent: Agent, token: string | null): void {
  inbox?.destroy();
  inbox = new Inbox(root, agent, token, () => login());
}

whenUnauthorized(() => {
  if (inbox) login('Your session has ended. Please log in again.');
});

api.me().then((agent) => open(agent, null), () => login());

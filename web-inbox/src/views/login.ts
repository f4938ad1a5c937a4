import { api, ApiError, type LoginResult } from '../api';
import { fill, h } from '../dom';

/** The login form. Calls `done` with the login's answer (the agent and the hub token). */
export function showLogin(root: HTMLElement, done: (result: LoginResult) => void, notice?: string): void {
  const email = h('input', { id: 'login-email', type: 'email', name: 'email', autocomplete: 'username', required: true, 'data-testid': 'login-email' });
  const password = h('input', {
    id: 'login-password', type: 'password', name: 'password', autocomplete: 'current-password', required: true, 'data-testid': 'login-password',
  });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'login-submit' }, 'Log in');
  const message = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'login-error', hidden: !notice }, notice ?? '');

  const form = h('form', { class: 'login-form', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Hub inbox'),
    h('p', { class: 'muted' }, 'Log in with your agent account.'),
    h('label', { for: 'login-email' }, 'Email'), email,
    h('label', { for: 'login-password' }, 'Password'), password,
    message,
    submit);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    message.hidden = true;
    try {
      done(await api.login(email.value.trim(), password.value));
    } catch (e) {
      message.textContent = e instanceof ApiError && e.status === 401 ? 'Wrong email or password.'
        : e instanceof ApiError ? e.message : 'The hub did not answer. Try again.';
      message.hidden = false;
      submit.disabled = false;
      password.select();
    }
  });

  fill(root, h('main', { class: 'login-page' }, form));
  document.title = 'Log in · Hub inbox';
  email.focus();
}

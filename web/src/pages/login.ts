// Sign-in: paste an API token; it is validated with GET /api/v1/projects and kept in
// sessionStorage (gone when the tab closes).

import { Api, ApiError } from '../api/client';
import { h } from '../ui/dom';

export function loginPage(initialMessage: string, onSuccess: (token: string, projects: string[]) => void): HTMLElement {
  const input = h('input', {
    class: 'login-input',
    testid: 'login-token',
    attrs: { type: 'password', autocomplete: 'off', spellcheck: 'false', placeholder: 'API token', 'aria-label': 'API token' },
  });
  const msg = h('div', { class: 'login-msg', testid: 'login-message', text: initialMessage, attrs: { role: 'status' } });
  const button = h('button', { class: 'btn primary', testid: 'login-submit', text: 'Sign in', attrs: { type: 'submit' } });
  const form = h(
    'form',
    { class: 'login-card' },
    h('div', { class: 'brand big' }, h('span', { class: 'brand-mark', text: '◉' }), 'Loupe'),
    h('p', { class: 'muted', text: 'Application performance monitoring. Paste the API token printed by the server on first start (also in DATA_DIR/initial-credentials.json).' }),
    input,
    button,
    msg,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const token = input.value.trim();
    if (!token) {
      msg.textContent = 'Paste an API token first.';
      msg.className = 'login-msg error';
      return;
    }
    button.disabled = true;
    msg.textContent = 'Checking…';
    msg.className = 'login-msg';
    new Api(token, 'default')
      .projects()
      .then((r) => {
        onSuccess(token, (r.projects ?? []).map((p) => p.name));
      })
      .catch((err: unknown) => {
        button.disabled = false;
        msg.className = 'login-msg error';
        if (err instanceof ApiError && err.status === 401) msg.textContent = 'This token was not accepted (401). Check that you copied the API token, not the ingest key.';
        else if (err instanceof ApiError) msg.textContent = err.status ? 'The server answered ' + err.status + ': ' + err.message : err.message;
        else msg.textContent = 'Sign-in failed.';
      });
  });
  queueMicrotask(() => input.focus());
  return h('div', { class: 'login-page' }, form);
}

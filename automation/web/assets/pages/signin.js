// Sign in: a token is exchanged once for a session cookie (HttpOnly, set by
// the server); the token leaves the page's memory as soon as it is sent.
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { api, safeNext } from '../api.js';
import { setTitle, errorMessage } from '../page.js';

export async function signinPage(main) {
  setTitle(t('signin.title'));
  const query = new URLSearchParams(window.location.search);
  const next = safeNext(query.get('next') || '/');
  try {
    await api('GET', '/v1/session');
    window.location.replace(next); // signed in already
    return;
  } catch {
    // not signed in: show the form
  }
  const input = h('input', {
    id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false',
    required: true, 'aria-describedby': 'token-help token-error',
  });
  const error = h('p', { id: 'token-error', class: 'field-error', hidden: true });
  const button = h('button', { type: 'submit', class: 'button primary' }, t('signin.submit'));
  const notice = h('div', { role: 'status', class: 'notice' }, query.has('signedOut') ? t('signin.signedOut') : '');
  if (!notice.textContent) notice.hidden = true;

  const showError = (message) => {
    error.hidden = false;
    replace(error, h('span', { class: 'icon', 'aria-hidden': 'true' }, '✖'), ' ', message);
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  };

  const form = h('form', { class: 'card signin', novalidate: true },
    h('div', { class: 'field' },
      h('label', { for: 'token' }, t('signin.token')),
      input,
      h('p', { id: 'token-help', class: 'help' }, t('signin.tokenHelp')),
      error),
    button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) {
      showError(t('signin.required'));
      return;
    }
    button.disabled = true;
    try {
      await api('POST', '/v1/session', { token });
      input.value = '';
      window.location.replace(next);
    } catch (err) {
      showError(errorMessage(err, { 401: t('signin.bad'), 403: t('signin.crossSite'), 400: t('signin.bad') }));
    } finally {
      button.disabled = false;
    }
  });
  replace(main, h('h1', null, t('signin.title')), notice, h('p', { class: 'lead' }, t('signin.intro')), form);
  input.focus();
}

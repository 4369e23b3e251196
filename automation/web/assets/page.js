// What every page shares: its title, its errors, its breadcrumb.
import { h, replace } from './dom.js';
import { t } from './i18n.js';
import { APIError, NetworkError, signInPath } from './api.js';

// setTitle names the page in the tab and for screen readers.
export function setTitle(title) {
  document.title = `${title} | ${t('app.title')}`;
}

// errorMessage is what a failed request means for the user.
export function errorMessage(err, messages = {}) {
  if (err instanceof NetworkError) return t('common.network');
  if (err instanceof APIError) {
    if (messages[err.status]) return messages[err.status];
    if (err.status === 401) return t('common.session');
    if (err.status === 403) return t('common.forbidden');
    return t('common.httpError', { status: err.status });
  }
  return String(err);
}

// alertBox is an error for the whole page or section, announced at once;
// the API's own words follow the message.
export function alertBox(err, messages) {
  const box = h('div', { class: 'alert', role: 'alert' },
    h('p', null, h('span', { class: 'icon', 'aria-hidden': 'true' }, '✖'), ' ', errorMessage(err, messages)));
  if (err instanceof APIError && err.body && err.body.error) {
    box.append(h('p', { class: 'api-says' }, `${t('common.apiSays')} `, h('span', { lang: 'en' }, err.body.error)));
  }
  return box;
}

// fail shows an error in place of a page; a session that has ended goes
// back to sign-in.
export function fail(main, err, messages, title) {
  if (err instanceof APIError && err.status === 401) {
    window.location.assign(signInPath());
    return;
  }
  replace(main, title ? h('h1', null, title) : null, alertBox(err, messages), h('p', null, h('a', { href: '/' }, t('common.backToList'))));
}

// breadcrumb is the trail back to the list; the last entry is this page.
export function breadcrumb(...items) {
  return h('nav', { 'aria-label': t('breadcrumb'), class: 'breadcrumb' },
    h('ol', null, items.map((item, i) => h('li', null,
      i === items.length - 1 ? h('span', { 'aria-current': 'page' }, item.text) : h('a', { href: item.href }, item.text)))));
}

// The console's entry point: find the page, find out who is signed in (the
// API says; a page without a session goes to sign-in), draw the menu, and
// let the page render itself from the API.
import { h, replace } from './dom.js';
import { t, switchLanguage } from './i18n.js';
import { api, APIError, setCSRFToken, signInPath } from './api.js';
import { fail } from './page.js';
import { signinPage } from './pages/signin.js';
import { listPage } from './pages/list.js';
import { municipalityPage } from './pages/municipality.js';
import { registerPage } from './pages/register.js';
import { jobPage } from './pages/job.js';
import { fleetPage } from './pages/fleet.js';

const routes = [
  { path: /^\/signin$/, page: signinPage, public: true },
  { path: /^\/$/, page: listPage, nav: 'list' },
  { path: /^\/register$/, page: registerPage, nav: 'register' },
  { path: /^\/municipalities\/([^/]+)$/, page: municipalityPage, nav: 'list' },
  { path: /^\/jobs\/([^/]+)$/, page: jobPage },
  { path: /^\/fleet$/, page: fleetPage, nav: 'fleet' },
];

function languageButton() {
  return h('button', { type: 'button', class: 'button link lang-switch', lang: t('lang.otherCode'), 'aria-label': t('lang.switch'), onclick: switchLanguage },
    t('lang.other'));
}

async function signOut() {
  try {
    await api('DELETE', '/v1/session');
  } catch (err) {
    if (!(err instanceof APIError && err.status === 401)) throw err;
  }
  window.location.assign('/signin?signedOut=1');
}

// drawMenu fills the header: the pages the caller has, who they are, the
// language and sign-out. The platform team's fleet page appears only when
// the server answers /v1/fleet.
function drawMenu(session, current) {
  const nav = document.getElementById('site-nav');
  const account = document.getElementById('account');
  const platform = session.scope === 'platform';
  const link = (name, href, text) => h('li', null, h('a', { href, 'aria-current': current === name ? 'page' : false }, text));
  const items = h('ul', null, link('list', '/', t('nav.municipalities')), platform && link('register', '/register', t('nav.register')));
  replace(nav, items);
  if (platform) {
    api('GET', '/v1/fleet').then(() => items.append(link('fleet', '/fleet', t('nav.fleet'))), () => {});
  }
  const who = platform ? t('account.platform') : t('account.municipality', { code: session.municipality || session.scope });
  replace(account,
    h('span', { class: 'who' }, who,
      session.description ? h('span', { class: 'who-detail' }, ` (${session.description})`) : null),
    languageButton(),
    h('button', { type: 'button', class: 'button secondary', id: 'sign-out', onclick: () => signOut().catch(() => {}) }, t('account.signOut')));
}

async function start() {
  const main = document.getElementById('main');
  const path = window.location.pathname;
  const route = routes.find((r) => r.path.test(path));
  if (!route) {
    window.location.replace('/');
    return;
  }
  const params = path.match(route.path).slice(1).map(decodeURIComponent);
  if (route.public) {
    replace(document.getElementById('account'), languageButton());
    await route.page(main, { params });
    document.body.dataset.ready = 'true';
    return;
  }
  let session;
  try {
    session = await api('GET', '/v1/session');
  } catch (err) {
    if (err instanceof APIError && err.status === 401) {
      window.location.replace(signInPath());
      return;
    }
    fail(main, err);
    return;
  }
  setCSRFToken(session.csrfToken);
  drawMenu(session, route.nav);
  try {
    await route.page(main, { params, session, platform: session.scope === 'platform' });
  } catch (err) {
    fail(main, err);
  }
  document.body.dataset.ready = 'true';
}

start();

// The municipalities the caller may see (the API decides: the platform team
// sees all, a municipality's token its own), searched and filtered here.
import { h, replace, table } from '../dom.js';
import { t, label, formatTime, formatNumber } from '../i18n.js';
import { api } from '../api.js';
import { setTitle } from '../page.js';
import { stateBadge, driftBadge, formatCost, countOf } from '../status.js';

// Search ignores case and full-width/half-width differences (NFKC), so
// "１３１０" finds 131016.
function normalize(s) {
  return String(s ?? '').normalize('NFKC').toLowerCase();
}

const statusOf = (stack) => stack.status ?? stack.state;
const costOf = (stack) => stack.cost ?? stack.estimatedCost ?? stack.estimatedMonthlyCost ?? stack.estimate;
const resourcesOf = (stack) => countOf(stack.resources ?? stack.resourceCount);

export async function listPage(main, ctx) {
  setTitle(t('list.title'));
  const data = await api('GET', '/v1/municipalities');
  const stacks = (data && data.municipalities) || [];
  const query = new URLSearchParams(window.location.search);

  const search = h('input', { id: 'filter-q', type: 'search', value: query.get('q') || '', autocomplete: 'off' });
  const envSelect = h('select', { id: 'filter-env' },
    h('option', { value: '' }, t('list.all')),
    ['dev', 'prod'].map((env) => h('option', { value: env }, label('env', env))));
  envSelect.value = query.get('env') || '';
  const statuses = [...new Set(['active', 'deleting', ...stacks.map(statusOf)])].filter(Boolean);
  const statusSelect = h('select', { id: 'filter-status' },
    h('option', { value: '' }, t('list.all')),
    statuses.map((s) => h('option', { value: s }, label('state', s))));
  statusSelect.value = query.get('status') || '';

  const count = h('p', { id: 'result-count', role: 'status', class: 'count' });
  const results = h('div', { id: 'results' });

  // Optional columns appear once the API reports them for any stack.
  const withResources = stacks.some((s) => resourcesOf(s) !== null);
  const withDrift = stacks.some((s) => s.drift !== undefined);
  const withCost = stacks.some((s) => costOf(s) !== undefined);

  const draw = () => {
    const q = normalize(search.value.trim());
    const shown = stacks.filter((s) => (!q || [s.code, s.name, s.prefecture, s.stack].some((v) => normalize(v).includes(q)))
      && (!envSelect.value || s.environment === envSelect.value)
      && (!statusSelect.value || statusOf(s) === statusSelect.value));
    count.textContent = t('list.count', { n: shown.length, total: stacks.length });
    const params = new URLSearchParams();
    if (search.value.trim()) params.set('q', search.value.trim());
    if (envSelect.value) params.set('env', envSelect.value);
    if (statusSelect.value) params.set('status', statusSelect.value);
    window.history.replaceState(null, '', params.toString() ? `/?${params}` : '/');
    if (!shown.length) {
      replace(results, h('p', { class: 'empty' }, stacks.length ? t('list.empty') : t('list.emptyAll')));
      return;
    }
    const headers = [t('col.code'), t('col.municipality'), t('col.prefecture'), t('col.environment'), t('col.state')];
    if (withResources) headers.push(t('facts.resources'));
    if (withDrift) headers.push(t('facts.drift'));
    if (withCost) headers.push(t('facts.cost'));
    headers.push(t('col.updated'));
    const rows = shown.map((s) => {
      const href = `/municipalities/${encodeURIComponent(s.code)}`;
      const cells = [h('a', { href }, s.code), h('a', { href }, s.name), s.prefecture, label('env', s.environment), stateBadge(statusOf(s))];
      if (withResources) cells.push(resourcesOf(s) === null ? '—' : formatNumber(resourcesOf(s)));
      if (withDrift) cells.push(driftBadge(s.drift));
      if (withCost) cells.push(formatCost(costOf(s)) ?? '—');
      cells.push(formatTime(s.updatedAt));
      return cells;
    });
    replace(results, table(t('list.caption'), headers, rows, { class: 'data municipalities' }));
  };
  for (const control of [search, envSelect, statusSelect]) {
    control.addEventListener('input', draw);
    control.addEventListener('change', draw);
  }

  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': t('list.filters'), onsubmit: (e) => e.preventDefault() },
    h('div', { class: 'field grow' }, h('label', { for: 'filter-q' }, t('list.search')), search),
    h('div', { class: 'field' }, h('label', { for: 'filter-env' }, t('list.env')), envSelect),
    h('div', { class: 'field' }, h('label', { for: 'filter-status' }, t('list.status')), statusSelect));

  replace(main,
    h('div', { class: 'page-head' },
      h('h1', null, t('list.title')),
      ctx.platform ? h('a', { class: 'button primary', href: '/register' }, t('list.registerLink')) : null),
    filters, count, results);
  draw();
}

// The fleet, for the platform team: the overview and the rollouts, when the
// server offers them (a 404 means it does not yet). Their fields are shown
// as the API names them.
import { h, replace } from '../dom.js';
import { t, has } from '../i18n.js';
import { api, APIError } from '../api.js';
import { setTitle, fail } from '../page.js';
import { genericTable } from '../results.js';
import { formatValue } from '../status.js';

// sections turns an answer into tables (its lists of objects) and facts
// (everything else).
function sections(answer, caption) {
  if (Array.isArray(answer)) return answer.length ? genericTable(answer, caption) : h('p', { class: 'empty' }, t('fleet.empty'));
  const out = [];
  const facts = [];
  for (const [key, value] of Object.entries(answer || {})) {
    const name = has(`field.${key}`) ? t(`field.${key}`) : key;
    if (Array.isArray(value) && value.every((v) => v && typeof v === 'object')) {
      out.push(value.length ? genericTable(value, name) : h('p', { class: 'empty' }, `${name}: ${t('fleet.empty')}`));
    } else {
      facts.push(h('dt', null, name), h('dd', null, formatValue(value)));
    }
  }
  if (facts.length) out.unshift(h('dl', { class: 'facts' }, facts));
  return out;
}

async function optional(path) {
  try {
    return await api('GET', path);
  } catch (err) {
    if (err instanceof APIError && err.status === 404) return undefined;
    throw err;
  }
}

export async function fleetPage(main, ctx) {
  setTitle(t('fleet.title'));
  if (!ctx.platform) {
    replace(main, h('h1', null, t('fleet.title')), h('p', { role: 'alert', class: 'alert' }, t('fleet.platformOnly')));
    return;
  }
  let fleet;
  let rollouts;
  try {
    [fleet, rollouts] = await Promise.all([optional('/v1/fleet'), optional('/v1/rollouts')]);
  } catch (err) {
    fail(main, err, {}, t('fleet.title'));
    return;
  }
  if (fleet === undefined && rollouts === undefined) {
    replace(main, h('h1', null, t('fleet.title')), h('p', { class: 'notice' }, t('fleet.unavailable')));
    return;
  }
  replace(main,
    h('h1', null, t('fleet.title')),
    fleet !== undefined ? h('section', { id: 'fleet-overview', 'aria-labelledby': 'fleet-overview-title' },
      h('h2', { id: 'fleet-overview-title' }, t('fleet.overview')), sections(fleet, t('fleet.overview'))) : null,
    rollouts !== undefined ? h('section', { id: 'fleet-rollouts', 'aria-labelledby': 'fleet-rollouts-title' },
      h('h2', { id: 'fleet-rollouts-title' }, t('fleet.rollouts')), sections(rollouts, t('fleet.rollouts'))) : null);
}

// Tables of a job's results, shared by the municipality and job pages:
// resources by tier, policy violations, changes and outputs.
import { h, table } from './dom.js';
import { t, has, label, formatNumber } from './i18n.js';
import { levelBadge, stateBadge, driftBadge, formatCost, tierLabel, resourceName, resourceType, formatValue } from './status.js';

// Tiers in the order the program builds them; any other follows by name.
const tierOrder = ['platform', 'network', 'security', 'datalake', 'database', 'streaming', 'analytics', 'functions', 'api', 'compute', 'edge', 'monitoring'];

function tierRank(tier) {
  const i = tierOrder.indexOf(tier);
  return i < 0 ? tierOrder.length : i;
}

// tiersTable counts resources by tier, with the total as the last row.
export function tiersTable(tiers, total, caption) {
  const entries = Object.entries(tiers || {}).sort(([a], [b]) => tierRank(a) - tierRank(b) || a.localeCompare(b));
  const rows = entries.map(([tier, n]) => [tierLabel(tier), formatNumber(n)]);
  const sum = typeof total === 'number' ? total : entries.reduce((acc, [, n]) => acc + n, 0);
  rows.push([h('strong', null, t('resources.total')), h('strong', null, formatNumber(sum))]);
  return table(caption, [t('col.tier'), t('col.count')], rows, { class: 'data tiers numeric' });
}

const levelRank = { mandatory: 0, remediate: 1, advisory: 2, disabled: 3 };

// violationsTable lists policy findings, mandatory first.
export function violationsTable(violations, caption) {
  const sorted = [...violations].sort((a, b) => (levelRank[a.level] ?? 9) - (levelRank[b.level] ?? 9)
    || String(a.policy).localeCompare(String(b.policy)));
  const rows = sorted.map((v) => [
    v.policy,
    levelBadge(v.level),
    v.control || '—',
    h('span', { title: v.urn || '' }, resourceName(v.urn) || '—', h('span', { class: 'type' }, resourceType(v.urn) ? ` ${resourceType(v.urn)}` : '')),
    v.message || '',
  ]);
  return table(caption, [t('col.policy'), t('col.level'), t('col.control'), t('col.resource'), t('col.message')], rows, { class: 'data violations' });
}

// changesTable counts an operation's resource changes by kind.
export function changesTable(changes) {
  const rows = Object.entries(changes || {}).map(([kind, n]) => [label('change', kind), formatNumber(n)]);
  return table(t('job.changesCaption'), [t('col.kind'), t('col.count')], rows, { class: 'data numeric' });
}

// outputsTable lists a stack's outputs (secrets arrive as "[secret]").
export function outputsTable(outputs) {
  const rows = Object.entries(outputs || {}).sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => [key, h('code', null, typeof value === 'string' ? value : JSON.stringify(value))]);
  return table(t('job.outputsCaption'), [t('col.output'), t('col.value')], rows, { class: 'data outputs' });
}

// How the fields of the fleet's lists read, for those whose meaning is
// known; any other field shows under its own name.
const fieldOrder = ['code', 'name', 'prefecture', 'environment', 'stack', 'id', 'version', 'state', 'status', 'lastResult',
  'drift', 'policy', 'resources', 'estimatedMonthlyCost', 'cost'];

function cell(field, value) {
  if (field === 'code' && typeof value === 'string' && /^[0-9]{6}$/.test(value)) return h('a', { href: `/municipalities/${value}` }, value);
  if (['state', 'status', 'lastResult'].includes(field) && typeof value === 'string') return stateBadge(value);
  if (field === 'drift') return driftBadge(value);
  if (/cost/i.test(field)) return formatCost(value) ?? '—';
  return formatValue(value);
}

// genericTable shows a list of objects whose fields are not all known in
// advance (the fleet views): a column per field, the known ones first and
// in words, with their icons.
export function genericTable(items, caption) {
  const seen = [...new Set(items.flatMap((item) => Object.keys(item || {})))];
  const rank = (f) => (fieldOrder.includes(f) ? fieldOrder.indexOf(f) : fieldOrder.length);
  const columns = seen.sort((a, b) => rank(a) - rank(b));
  const rows = items.map((item) => columns.map((c) => cell(c, item[c])));
  return table(caption, columns.map((c) => (has(`field.${c}`) ? t(`field.${c}`) : c)), rows, { class: 'data generic' });
}

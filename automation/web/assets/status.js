// How states, levels and values read: always an icon and a word, never a
// colour alone.
import { h } from './dom.js';
import { t, label, lang, formatNumber, formatTime } from './i18n.js';

const icons = {
  succeeded: '✔', failed: '✖', cancelled: '⊘', running: '▶', queued: '○',
  active: '●', deleting: '▼',
  mandatory: '✖', advisory: '⚠', remediate: '↻', disabled: '–',
  drift: '⚠', clean: '✔', unknown: '?',
  error: '✖', warning: '⚠', info: 'ℹ', debug: '·', ok: '✔',
};

// badge is an icon (hidden from screen readers) and its word.
export function badge(kind, text) {
  return h('span', { class: `badge badge-${kind}` }, h('span', { class: 'icon', 'aria-hidden': 'true' }, icons[kind] || '•'), ' ', text);
}

export function stateBadge(state) {
  return badge(icons[state] ? state : 'unknown', label('state', state));
}

export function levelBadge(level) {
  return badge(icons[level] ? level : 'unknown', label('level', level));
}

// driftBadge reads a drift status however the API gives it: a boolean, a
// word, or an object with one of detected/drifted/status.
export function driftBadge(drift) {
  let value = drift;
  if (value && typeof value === 'object') value = value.detected ?? value.drifted ?? value.drift ?? value.status ?? value.state;
  if (value === true || value === 'drifted' || value === 'detected' || value === 'drift') return badge('drift', t('drift.detected'));
  if (value === false || value === 'clean' || value === 'none' || value === 'in-sync' || value === 'ok') return badge('clean', t('drift.none'));
  if (value === undefined || value === null || value === '' || value === 'unknown') return badge('unknown', t('drift.unknown'));
  return badge('unknown', String(value));
}

// formatCost reads an estimated monthly cost: a number (yen), or an object
// with monthlyJpy or monthlyUsd.
export function formatCost(cost) {
  if (cost === undefined || cost === null) return null;
  const locale = lang === 'ja' ? 'ja-JP' : 'en-GB';
  const money = (n, currency) => new Intl.NumberFormat(locale, { style: 'currency', currency, maximumFractionDigits: currency === 'JPY' ? 0 : 2 }).format(n);
  if (typeof cost === 'number') return money(cost, 'JPY');
  if (typeof cost === 'object') {
    const parts = [];
    if (typeof cost.monthlyJpy === 'number') parts.push(money(cost.monthlyJpy, 'JPY'));
    if (typeof cost.monthlyUsd === 'number') parts.push(money(cost.monthlyUsd, 'USD'));
    if (parts.length) return parts.join(' / ');
  }
  return formatValue(cost);
}

const timeLike = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

// formatValue renders any JSON value as one line of text.
export function formatValue(value) {
  if (value === undefined || value === null || value === '') return '—';
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'boolean') return value ? '✔' : '✖';
  if (typeof value === 'string') return timeLike.test(value) ? formatTime(value) : value;
  if (Array.isArray(value)) return value.map(formatValue).join(', ');
  return Object.entries(value).map(([k, v]) => `${k}: ${formatValue(v)}`).join(', ');
}

// tierLabel names a tier in the page's language, keeping the program's own
// name beside the Japanese one.
export function tierLabel(tier) {
  const name = label('tier', tier);
  return lang === 'ja' && name !== tier ? `${name}（${tier}）` : name;
}

// resourceName is the last part of a Pulumi URN: the resource's name.
export function resourceName(urn) {
  if (typeof urn !== 'string') return '';
  const i = urn.lastIndexOf('::');
  return i >= 0 ? urn.slice(i + 2) : urn;
}

// resourceType is the type part of a URN (the last type of its parent chain).
export function resourceType(urn) {
  if (typeof urn !== 'string') return '';
  const parts = urn.split('::');
  if (parts.length < 4) return '';
  const chain = parts[2].split('$');
  return chain[chain.length - 1];
}

// countOf reads a resource count given as a number or as counts to add up.
export function countOf(value) {
  if (typeof value === 'number') return value;
  if (value && typeof value === 'object') {
    if (typeof value.total === 'number') return value.total;
    const numbers = Object.values(value).filter((v) => typeof v === 'number');
    if (numbers.length) return numbers.reduce((a, b) => a + b, 0);
  }
  return null;
}

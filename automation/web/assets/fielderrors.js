// The API's field errors (openapi.yaml: BadRequest, a field and an English
// reason) in the page's language. The API's own words stay beside the
// message: they are the authority, and what support will ask for.
import { t } from './i18n.js';

// Each rule matches a field and a reason and gives the message; the first
// that matches wins.
const rules = [
  { field: /^code$/, reason: /wrong check digit: (\d{6}) would be valid/, message: (m) => t('fe.code.checkDigit', { valid: m[1] }) },
  { field: /^code$/, reason: /must be the 6-digit/, message: () => t('fe.code.length') },
  { field: /^code$/, reason: /must be 6 digits/, message: () => t('fe.code.digits') },
  { field: /^code$/, reason: /not on the .* list/, message: () => t('fe.code.notListed') },
  { field: /^code$/, reason: /is the prefecture (\S+), not a municipality/, message: (m) => t('fe.code.prefecture', { prefecture: m[1] }) },
  { field: /^name$/, reason: /official name of (\d{6}): (.+)$/, message: (m) => t('fe.name.mismatch', { code: m[1], official: m[2] }) },
  { field: /^prefecture$/, reason: /prefecture of (\d{6}): (.+)$/, message: (m) => t('fe.prefecture.mismatch', { code: m[1], official: m[2] }) },
  { field: /^environment$/, reason: /./, message: () => t('fe.environment') },
  { field: /^config\./, reason: /only keys under cats:/, message: () => t('fe.config.namespace') },
  { field: /^config\./, reason: /derived from the stack name/, message: () => t('fe.config.reserved') },
  { field: /^config\./, reason: /not a configuration key/, message: () => t('fe.config.unknown') },
  { field: /^config$/, reason: /values must be strings/, message: () => t('fe.config.notString') },
  { field: /^token$/, reason: /./, message: () => t('fe.token') },
];

// fieldMessage is the message for an API field error.
export function fieldMessage(field, reason) {
  for (const rule of rules) {
    const match = rule.field.test(field) && String(reason).match(rule.reason);
    if (match) return rule.message(match);
  }
  return t('fe.generic');
}

// The program's rules for config values (components/config), by the words
// of their reasons.
const valueRules = [
  { reason: /must be between (\d+) and (\d+)/, message: (m) => t('fe.value.between', { lo: m[1], hi: m[2] }) },
  { reason: /must be a whole number/, message: () => t('fe.value.number') },
  { reason: /must be one of the values CloudWatch Logs accepts/, message: () => t('fe.value.retention') },
  { reason: /must be one of (.+)$/, message: (m) => t('fe.value.oneOf', { values: m[1] }) },
  { reason: /must be true or false/, message: () => t('fe.value.bool') },
  { reason: /must be a plain e-mail address/, message: () => t('fe.value.email') },
  { reason: /must be an image reference/, message: () => t('fe.value.image') },
  { reason: /overlaps/, message: () => t('fe.value.overlap') },
  { reason: /is greater than/, message: () => t('fe.value.minMax') },
  { reason: /is outside the VPC/, message: () => t('fe.value.outsideVPC') },
];

// configMessage is the message for one key's problem in a refused configuration.
export function configMessage(key, lines) {
  for (const rule of valueRules) {
    const m = lines.join(' ').match(rule.reason);
    if (m) return `${key}: ${rule.message(m)}`;
  }
  return t('fe.config.value', { key });
}

// configProblems splits the reason of a refused configuration (the program's
// own check, one line per problem, each starting with its key) by key, so
// each problem shows beside its row.
export function configProblems(reason) {
  const byKey = new Map();
  for (const line of String(reason).split('\n')) {
    const m = line.match(/^(cats:[A-Za-z0-9]+)[: ]/);
    if (!m) continue;
    if (!byKey.has(m[1])) byKey.set(m[1], []);
    byKey.get(m[1]).push(line.trim());
  }
  return byKey;
}

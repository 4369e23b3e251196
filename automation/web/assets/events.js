// A job's events as readable log lines: the steps of an offline plan and
// Pulumi's engine events (openapi.yaml: PlanEvent, EngineEvent).
import { t, label } from './i18n.js';
import { resourceName } from './status.js';

// Terminal colours and Pulumi's own colour directives carry no meaning in a
// page and would show as noise.
const colours = /\u001b\[[0-9;]*m|<\{%[^%]*%\}>/g;

function clean(message) {
  return String(message ?? '').replace(colours, '').trim();
}

function opLabel(op) {
  return label('change', op);
}

// describePlan reads a plan step; null when there is nothing to show.
export function describePlan(ev) {
  switch (ev.step) {
    case 'config':
      return { kind: 'info', text: t('ev.config'), detail: ev.message };
    case 'program':
      return { kind: 'info', text: t('ev.program', { n: ev.resources ?? '?' }), detail: ev.message };
    case 'policy':
      return { kind: ev.mandatoryViolations ? 'error' : 'info', text: t('ev.policy', { n: ev.violations ?? 0, m: ev.mandatoryViolations ?? 0 }), detail: ev.message };
    case 'violation': {
      const v = ev.violation || {};
      return { kind: v.level === 'mandatory' ? 'error' : 'warning', text: t('ev.violation', { level: label('level', v.level), policy: v.policy }), detail: v.message || ev.message };
    }
    default:
      return { kind: 'info', text: clean(ev.message) || t('ev.other', { kind: ev.step }) };
  }
}

// describeEngine reads an engine event; null for the ones that only drive a
// terminal display (progress bars, ephemeral diagnostics).
export function describeEngine(ev) {
  if (ev.preludeEvent) return { kind: 'info', text: t('ev.prelude') };
  if (ev.resourcePreEvent) {
    const m = ev.resourcePreEvent.metadata || {};
    return { kind: 'debug', text: t('ev.pre', { op: opLabel(m.op), name: resourceName(m.urn), type: m.type }) };
  }
  if (ev.resOutputsEvent) {
    const m = ev.resOutputsEvent.metadata || {};
    return { kind: 'ok', text: t('ev.done', { op: opLabel(m.op), name: resourceName(m.urn), type: m.type }) };
  }
  if (ev.resOpFailedEvent) {
    const m = ev.resOpFailedEvent.metadata || {};
    return { kind: 'error', text: t('ev.failed', { name: resourceName(m.urn), type: m.type }) };
  }
  if (ev.diagnosticEvent) {
    const d = ev.diagnosticEvent;
    if (d.ephemeral) return null;
    const severity = ['error', 'warning', 'info', 'debug'].includes(d.severity) ? d.severity : 'info';
    const where = d.urn ? `${resourceName(d.urn)}: ` : '';
    return { kind: severity, text: `${where}${clean(d.message)}` };
  }
  if (ev.stdoutEvent) {
    const text = clean(ev.stdoutEvent.message);
    return text ? { kind: 'info', text } : null;
  }
  if (ev.policyEvent) {
    const p = ev.policyEvent;
    return {
      kind: p.enforcementLevel === 'mandatory' ? 'error' : 'warning',
      text: t('ev.policyEvent', { level: label('level', p.enforcementLevel), policy: p.policyName, message: clean(p.message) }),
      detail: p.resourceUrn ? resourceName(p.resourceUrn) : undefined,
    };
  }
  if (ev.summaryEvent) {
    const s = ev.summaryEvent;
    const changes = Object.entries(s.resourceChanges || {}).map(([op, n]) => `${opLabel(op)} ${n}`).join(', ') || t('common.none');
    return { kind: 'ok', text: t('ev.summary', { changes, seconds: s.durationSeconds ?? 0 }) };
  }
  // The engine ends every stream with a cancelEvent: it marks the end, not a cancellation.
  if (ev.cancelEvent) return null;
  if (ev.errorEvent) return { kind: 'error', text: clean(ev.errorEvent.error) };
  if (ev.progressEvent || ev.startDebuggingEvent) return null;
  const kind = Object.keys(ev).find((k) => k.endsWith('Event'));
  return kind ? { kind: 'debug', text: t('ev.other', { kind }) } : null;
}

// eventTime is an event's time: the engine's Unix timestamp, if any.
export function eventTime(ev) {
  return typeof ev.timestamp === 'number' && ev.timestamp > 0 ? new Date(ev.timestamp * 1000) : null;
}

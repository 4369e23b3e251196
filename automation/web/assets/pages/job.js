// A job: its status, its events live (Server-Sent Events from
// /v1/jobs/{id}/events, which the browser opens with the session cookie) as
// a readable log, its results, and when it failed, why and what to do next.
import { h, replace } from '../dom.js';
import { t, label, formatTime } from '../i18n.js';
import { api, APIError, signInPath } from '../api.js';
import { setTitle, fail, alertBox, breadcrumb } from '../page.js';
import { stateBadge, badge, formatValue } from '../status.js';
import { describePlan, describeEngine, eventTime } from '../events.js';
import { tiersTable, violationsTable, changesTable, outputsTable } from '../results.js';

const terminal = (state) => state === 'succeeded' || state === 'failed' || state === 'cancelled';

// advice says what to do after a failure: from the job's reason code when
// the API gives one, else from what its error says.
function advice(job) {
  const reason = String(job.reason || '').toLowerCase();
  const error = String(job.error || '');
  const rules = [
    ['advice.policy', /polic|violation/, /mandatory policy violation/i],
    ['advice.config', /config/, /invalid configuration|check the configuration/i],
    ['advice.busy', /busy|lock|concurrent/, /stack busy|concurrent update|locked/i],
    ['advice.interrupted', /interrupt|shutdown|crash/, /interrupted/i],
    ['advice.cancelled', /cancel/, /cancelled/i],
    ['advice.credentials', /credential|auth|permission|access/, /credential|AccessDenied|UnauthorizedOperation|not authorized/i],
    ['advice.drift', /drift/, /drift/i],
  ];
  for (const [key, byReason, byError] of rules) {
    if ((reason && byReason.test(reason)) || (!reason && byError.test(error))) return t(key, { id: job.id });
  }
  return t('advice.generic', { id: job.id });
}

function facts(job) {
  const row = (term, ...value) => [h('dt', null, term), h('dd', null, value)];
  return h('dl', { class: 'facts' },
    row(t('job.operation'), job.operation),
    row(t('job.stack'), h('a', { href: `/municipalities/${encodeURIComponent(job.code)}` }, job.stack)),
    row(t('job.attempts'), String(job.attempts)),
    row(t('job.created'), formatTime(job.createdAt)),
    row(t('job.started'), formatTime(job.startedAt)),
    row(t('job.finished'), formatTime(job.finishedAt)),
    row(t('job.createdBy'), h('code', null, job.createdBy)));
}

function failureSection(job) {
  if (job.state !== 'failed' && job.state !== 'cancelled') return null;
  return h('section', { class: 'failure card', 'aria-labelledby': 'failure-title' },
    h('h2', { id: 'failure-title' }, t(job.state === 'failed' ? 'job.failure.failed' : 'job.failure.cancelled')),
    job.reason ? h('p', null, `${t('job.reason')}: `, h('code', null, job.reason)) : null,
    h('pre', { class: 'error-text', lang: 'en' }, job.error || '—'),
    h('h3', null, t('job.next')),
    h('p', { class: 'advice' }, advice(job)));
}

// resultSections shows whatever the result holds: a plan's resources by
// tier and its policy table; an operation's changes, its policy findings
// (once the API reports them) and its outputs.
function resultSections(job) {
  const r = job.result;
  if (!r || typeof r !== 'object') return [];
  const out = [];
  const section = (id, title, body) => h('section', { id, 'aria-labelledby': `${id}-title` }, h('h2', { id: `${id}-title` }, title), body);
  if (r.tiers) out.push(section('result-resources', t('resources.heading'), tiersTable(r.tiers, r.resources, t('resources.caption', { id: job.id }))));
  if (Array.isArray(r.violations)) {
    out.push(section('result-policy', t('policy.heading'), r.violations.length
      ? violationsTable(r.violations, t('policy.caption', { id: job.id }))
      : h('p', { class: 'clean' }, h('span', { class: 'icon', 'aria-hidden': 'true' }, '✔'), ' ', t('policy.none', { id: job.id }))));
  }
  if (r.changes && Object.keys(r.changes).length) out.push(section('result-changes', t('job.changes'), changesTable(r.changes)));
  if (r.outputs && Object.keys(r.outputs).length) out.push(section('result-outputs', t('job.outputs'), outputsTable(r.outputs)));
  if (r.removed) out.push(h('p', null, t('job.removed')));
  const shown = new Set(['stack', 'operation', 'resources', 'tiers', 'mandatoryViolations', 'violations', 'changes', 'outputs', 'removed']);
  const rest = Object.entries(r).filter(([k]) => !shown.has(k));
  if (rest.length) {
    out.push(h('dl', { class: 'facts' }, rest.map(([k, v]) => [h('dt', null, k), h('dd', null, formatValue(v))])));
  }
  return out;
}

export async function jobPage(main) {
  const id = window.location.pathname.split('/').pop();
  setTitle(`#${id}`);
  if (!/^[0-9]+$/.test(id)) {
    replace(main, h('h1', null, `#${id}`), alertBox(new Error(t('job.badID', { id }))));
    return;
  }
  let job;
  try {
    job = await api('GET', `/v1/jobs/${id}`);
  } catch (err) {
    fail(main, err, { 404: t('job.notFound', { id }) }, `#${id}`);
    return;
  }
  const title = t('job.title', { id: job.id, op: job.operation, stack: job.stack });
  setTitle(title);

  const status = h('div', { id: 'job-status', class: 'job-status', role: 'status' });
  const factsBox = h('div', { id: 'job-facts' });
  const failure = h('div', { id: 'job-failure' });
  const results = h('div', { id: 'job-results' });
  const cancelBox = h('div', { class: 'job-actions' });
  const log = h('ol', { id: 'job-log', class: 'log', role: 'log', 'aria-label': t('job.logLabel', { id: job.id }), tabindex: '0', hidden: true });
  const streamState = h('p', { id: 'stream-state', class: 'stream-state' }, t('job.stream.connecting'));
  const empty = h('p', { class: 'empty', id: 'log-empty' }, t('job.noEvents'));

  const cancel = h('button', { type: 'button', class: 'button danger', id: 'cancel-job' }, t('job.cancel'));
  cancel.addEventListener('click', async () => {
    cancel.disabled = true;
    try {
      await api('POST', `/v1/jobs/${job.id}/cancel`);
      replace(cancelBox, h('p', { role: 'status' }, t('job.cancelRequested')));
    } catch (err) {
      if (err instanceof APIError && err.status === 401) {
        window.location.assign(signInPath());
        return;
      }
      cancel.disabled = false;
      replace(cancelBox, cancel, alertBox(err));
    }
  });

  const show = (current) => {
    job = current;
    replace(status, h('span', { class: 'label' }, `${t('job.status')}: `), stateBadge(job.state),
      job.state === 'queued' && job.error ? h('span', { class: 'note' }, ` ${t('job.retrying', { error: job.error })}`) : null);
    replace(factsBox, facts(job));
    replace(failure, failureSection(job));
    replace(results, resultSections(job));
    replace(cancelBox, terminal(job.state) ? null : cancel);
  };

  const addLine = (line, when) => {
    if (!line) return;
    empty.hidden = true;
    log.hidden = false;
    log.append(h('li', { class: `log-line log-${line.kind}` },
      when ? h('time', { datetime: when.toISOString() }, when.toLocaleTimeString(document.documentElement.lang === 'en' ? 'en-GB' : 'ja-JP')) : null,
      badge(line.kind, label('ev.diag', line.kind)),
      h('span', { class: 'text' }, line.text),
      line.detail ? h('span', { class: 'detail', lang: 'en' }, line.detail) : null));
    log.scrollTop = log.scrollHeight;
  };

  replace(main,
    breadcrumb({ href: '/', text: t('nav.municipalities') }, { href: `/municipalities/${encodeURIComponent(job.code)}`, text: job.stack }, { text: `#${job.id}` }),
    h('h1', null, title),
    status, cancelBox, factsBox, failure,
    h('section', { 'aria-labelledby': 'log-title', class: 'log-section' },
      h('h2', { id: 'log-title' }, t('job.log')), streamState, empty, log),
    results);
  show(job);

  // The stream replays the stored events, then new ones as they come, then
  // "done" with the final job. EventSource reconnects by itself, resuming
  // after the last event id.
  const source = new EventSource(`/v1/jobs/${job.id}/events`);
  // A queued job streams nothing until it starts: its page asks now and
  // then, so it shows the start as it happens.
  let watching = true;
  (async () => {
    while (watching && job.state === 'queued') {
      await new Promise((resolve) => { setTimeout(resolve, 1000); });
      if (!watching) break;
      try {
        const current = await api('GET', `/v1/jobs/${job.id}`);
        if (watching && !terminal(job.state)) show(current);
      } catch {
        break;
      }
    }
  })();
  const onEvent = (describe) => (message) => {
    let ev;
    try {
      ev = JSON.parse(message.data);
    } catch {
      return;
    }
    watching = false;
    if (!terminal(job.state) && job.state !== 'running') show({ ...job, state: 'running' });
    addLine(describe(ev), eventTime(ev));
  };
  source.addEventListener('open', () => { streamState.textContent = t('job.stream.open'); });
  source.addEventListener('plan', onEvent(describePlan));
  source.addEventListener('engine', onEvent(describeEngine));
  source.addEventListener('done', (message) => {
    watching = false;
    source.close();
    streamState.textContent = t('job.stream.done');
    try {
      show(JSON.parse(message.data));
    } catch {
      // An unreadable final record leaves the last state shown.
    }
    document.body.dataset.jobDone = 'true';
  });
  source.addEventListener('error', async () => {
    if (source.readyState === EventSource.CLOSED) {
      // The server refused the stream (the session ended, or the job is
      // gone): read the job to say which.
      try {
        show(await api('GET', `/v1/jobs/${job.id}`));
        streamState.textContent = t('job.stream.done');
      } catch (err) {
        fail(main, err, { 404: t('job.notFound', { id }) }, `#${id}`);
      }
      return;
    }
    streamState.textContent = t('job.stream.retry');
  });
}

// A municipality and its stacks: for each, its status, resources, last
// jobs, policy results, drift and estimated cost (those the API reports),
// its configuration, and the operations the caller may start.
import { h, replace, table } from '../dom.js';
import { t, has, label, formatTime, formatNumber } from '../i18n.js';
import { api, APIError, signInPath } from '../api.js';
import { setTitle, fail, alertBox, breadcrumb } from '../page.js';
import { stateBadge, driftBadge, formatCost, formatValue, countOf } from '../status.js';
import { tiersTable, violationsTable } from '../results.js';
import { confirmAction } from '../dialog.js';

const operations = ['plan', 'preview', 'up', 'refresh', 'destroy'];

// Fields of a stack this page shows in their own place; any other field
// the API adds shows in the facts list under its own name.
const placed = new Set(['code', 'environment', 'name', 'prefecture', 'stack', 'config', 'state', 'status', 'createdAt', 'updatedAt',
  'resources', 'resourceCount', 'drift', 'driftStatus', 'cost', 'estimatedCost', 'estimatedMonthlyCost', 'estimate',
  'lastUpdate', 'lastUpdatedAt', 'lastUpdateAt']);

const enc = encodeURIComponent;

function fact(term, ...value) {
  return [h('dt', null, term), h('dd', null, value)];
}

function jobLink(job) {
  return h('a', { href: `/jobs/${job.id}` }, `${job.operation} #${job.id}`);
}

// startOperation queues an operation; up and destroy are confirmed first, a
// destroy by typing the stack's name.
async function startOperation(stack, op, button, messages) {
  if (op === 'up' || op === 'destroy') {
    const go = await confirmAction({
      title: t('confirm.title', { stack: stack.stack, op }),
      body: t(`confirm.${op}`, { stack: stack.stack }),
      confirmLabel: t('confirm.run', { stack: stack.stack, op }),
      typeToConfirm: op === 'destroy' ? stack.stack : undefined,
      danger: true,
    });
    if (!go) return;
  }
  button.disabled = true;
  try {
    const answer = await api('POST', `/v1/municipalities/${enc(stack.code)}/${enc(stack.environment)}/jobs`, { operation: op });
    window.location.assign(`/jobs/${answer.job.id}`);
  } catch (err) {
    button.disabled = false;
    if (err instanceof APIError && err.status === 401) {
      window.location.assign(signInPath());
      return;
    }
    replace(messages, h('p', null, t('ops.failed', { op })), alertBox(err));
    messages.focus();
  }
}

function operationsSection(stack) {
  const messages = h('div', { class: 'messages', tabindex: '-1' });
  const items = operations.map((op) => {
    const descID = `op-${stack.stack}-${op}-desc`;
    const button = h('button', { type: 'button', class: `button op op-${op}`, 'data-operation': op, 'aria-describedby': descID }, t('ops.run', { op }));
    button.addEventListener('click', () => startOperation(stack, op, button, messages));
    return h('li', null, button, h('span', { id: descID, class: 'op-desc' }, t(`ops.${op}`)));
  });
  return h('section', { class: 'ops', 'aria-labelledby': `ops-${stack.stack}` },
    h('h3', { id: `ops-${stack.stack}` }, t('ops.heading')), h('ul', { class: 'ops-list' }, items), messages);
}

function configSection(stack) {
  const entries = Object.entries(stack.config || {}).sort(([a], [b]) => a.localeCompare(b));
  return h('section', { 'aria-labelledby': `config-${stack.stack}` },
    h('h3', { id: `config-${stack.stack}` }, t('config.heading')),
    entries.length
      ? table(t('config.caption', { stack: stack.stack }), [t('col.key'), t('col.value')],
        entries.map(([k, v]) => [h('code', null, k), h('span', { class: 'config-value' }, v)]), { class: 'data config' })
      : h('p', { class: 'empty' }, t('config.empty')));
}

function jobsSection(stack, jobs) {
  const body = jobs instanceof Error
    ? alertBox(jobs)
    : jobs.length
      ? table(t('jobs.caption', { stack: stack.stack }),
        [t('col.job'), t('col.state'), t('col.created'), t('col.finished'), t('col.note')],
        jobs.slice(0, 10).map((j) => [jobLink(j), stateBadge(j.state), formatTime(j.createdAt), formatTime(j.finishedAt),
          h('span', { class: 'note' }, j.reason ? `${j.reason}: ` : '', j.error || '')]), { class: 'data jobs' })
      : h('p', { class: 'empty' }, t('jobs.empty'));
  return h('section', { 'aria-labelledby': `jobs-${stack.stack}` }, h('h3', { id: `jobs-${stack.stack}` }, t('jobs.heading')), body);
}

function policySection(stack, withViolations) {
  let body;
  if (!withViolations) {
    body = h('p', { class: 'empty' }, t('policy.noPlan'));
  } else if (!withViolations.result.violations.length) {
    body = h('p', { class: 'clean' }, h('span', { class: 'icon', 'aria-hidden': 'true' }, '✔'), ' ', t('policy.none', { id: withViolations.id }));
  } else {
    body = violationsTable(withViolations.result.violations, t('policy.caption', { id: withViolations.id }));
  }
  return h('section', { 'aria-labelledby': `policy-${stack.stack}` }, h('h3', { id: `policy-${stack.stack}` }, t('policy.heading')), body);
}

function resourcesSection(stack, plan) {
  return h('section', { 'aria-labelledby': `resources-${stack.stack}` },
    h('h3', { id: `resources-${stack.stack}` }, t('resources.heading')),
    plan && plan.result.tiers
      ? tiersTable(plan.result.tiers, plan.result.resources, t('resources.caption', { id: plan.id }))
      : h('p', { class: 'empty' }, t('policy.noPlan')));
}

function stackSection(stack, jobs) {
  const list = Array.isArray(jobs) ? jobs : [];
  const plan = list.find((j) => j.operation === 'plan' && j.state === 'succeeded' && j.result);
  // The newest policy findings: a plan's, or an operation's once the API reports them (a failed up among them).
  const withViolations = list.find((j) => j.result && Array.isArray(j.result.violations));
  const lastOperation = list.find((j) => j.operation !== 'plan' && j.finishedAt);

  const resources = countOf(stack.resources ?? stack.resourceCount);
  const lastUpdate = stack.lastUpdate ?? stack.lastUpdatedAt ?? stack.lastUpdateAt;
  const cost = formatCost(stack.cost ?? stack.estimatedCost ?? stack.estimatedMonthlyCost ?? stack.estimate)
    ?? (plan ? formatCost(plan.result.cost ?? plan.result.estimate) : null);
  const violations = withViolations ? withViolations.result.violations : null;
  const mandatory = violations ? violations.filter((v) => v.level === 'mandatory').length : 0;

  const facts = h('dl', { class: 'facts' },
    fact(t('facts.state'), stateBadge(stack.status ?? stack.state)),
    fact(t('facts.resources'), resources !== null
      ? formatNumber(resources)
      : plan ? [formatNumber(plan.result.resources), ' ', h('span', { class: 'muted' }, t('facts.fromPlan', { id: plan.id }))] : t('common.unknown')),
    fact(t('facts.lastUpdate'), lastUpdate !== undefined
      ? formatValue(lastUpdate)
      : lastOperation ? [jobLink(lastOperation), ' ', stateBadge(lastOperation.state), ' ', formatTime(lastOperation.finishedAt)] : t('common.unknown')),
    fact(t('facts.policy'), violations
      ? [violations.length ? t('policy.summary', { n: violations.length, m: mandatory }) : t('policy.clean'), ' (', jobLink(withViolations), ')']
      : t('common.unknown')),
    fact(t('facts.drift'), driftBadge(stack.drift ?? stack.driftStatus)),
    fact(t('facts.cost'), cost ?? t('common.unknown')),
    fact(t('facts.created'), formatTime(stack.createdAt)),
    fact(t('facts.updated'), formatTime(stack.updatedAt)),
    Object.entries(stack).filter(([k]) => !placed.has(k)).map(([k, v]) => fact(has(`field.${k}`) ? t(`field.${k}`) : k, formatValue(v))));

  return h('section', { class: 'stack card', id: `stack-${stack.stack}`, 'aria-labelledby': `stack-${stack.stack}-title` },
    h('h2', { id: `stack-${stack.stack}-title` }, t('municipality.stack', { stack: stack.stack, env: label('env', stack.environment) })),
    facts,
    operationsSection(stack),
    jobsSection(stack, jobs),
    policySection(stack, withViolations),
    resourcesSection(stack, plan),
    configSection(stack));
}

export async function municipalityPage(main, ctx) {
  const code = ctx.params[0];
  setTitle(code);
  let m;
  try {
    m = await api('GET', `/v1/municipalities/${enc(code)}`);
  } catch (err) {
    fail(main, err, { 403: t('municipality.forbidden'), 404: t('municipality.notFound', { code }) }, code);
    return;
  }
  const title = t('municipality.title', { name: m.name, prefecture: m.prefecture });
  setTitle(title);
  const jobLists = await Promise.all(m.stacks.map((s) => api('GET', `/v1/municipalities/${enc(m.code)}/${enc(s.environment)}/jobs`)
    .then((answer) => answer.jobs || [], (err) => err)));
  replace(main,
    breadcrumb({ href: '/', text: t('nav.municipalities') }, { text: `${m.code} ${m.name}` }),
    h('h1', null, title),
    h('p', { class: 'subtitle' }, t('municipality.code', { code: m.code }), m.nameKana ? ` · ${m.nameKana.normalize('NFKC')}` : ''),
    m.stacks.map((s, i) => stackSection(s, jobLists[i])));
}

// Register a municipality: the prefecture and the municipality are picked
// from the official list the server serves, the code follows (and can be
// typed); the server checks everything and its field errors show beside
// their fields, in the page's language.
import { h, replace, uid } from '../dom.js';
import { t, label } from '../i18n.js';
import { api, APIError, signInPath } from '../api.js';
import { setTitle, alertBox } from '../page.js';
import { fieldMessage, configProblems, configMessage } from '../fielderrors.js';

function errorSlot(id) {
  return h('p', { id, class: 'field-error', hidden: true });
}

// showFieldError writes a message under a field, with the API's own words
// after it, and marks the field invalid.
function showFieldError(slot, control, message, apiReason) {
  slot.hidden = false;
  replace(slot, h('span', { class: 'icon', 'aria-hidden': 'true' }, '✖'), ' ', message,
    apiReason ? h('span', { class: 'api-says' }, ` ${t('common.apiSays')} `, h('span', { lang: 'en' }, apiReason)) : null);
  if (control) control.setAttribute('aria-invalid', 'true');
}

export async function registerPage(main, ctx) {
  setTitle(t('register.title'));
  const [catalog, keyCatalog] = await Promise.all([api('GET', '/v1/catalog/municipalities'), api('GET', '/v1/catalog/config')]);
  const all = catalog.municipalities || [];
  const prefectures = [...new Map(all.map((m) => [m.prefecture, m.code.slice(0, 2)])).entries()];
  const byCode = new Map(all.map((m) => [m.code, m]));

  // Fields.
  const prefecture = h('select', { id: 'prefecture', name: 'prefecture', 'aria-describedby': 'prefecture-error' },
    h('option', { value: '' }, t('register.choose')),
    prefectures.map(([name]) => h('option', { value: name }, name)));
  const name = h('select', { id: 'name', name: 'name', 'aria-describedby': 'name-error' });
  const code = h('input', { id: 'code', name: 'code', type: 'text', inputmode: 'numeric', autocomplete: 'off', maxlength: '6', 'aria-describedby': 'code-help code-error' });
  const envs = ['dev', 'prod'].map((env) => h('input', { type: 'radio', name: 'environment', id: `environment-${env}`, value: env }));
  const slots = {
    prefecture: errorSlot('prefecture-error'), name: errorSlot('name-error'), code: errorSlot('code-error'),
    environment: errorSlot('environment-error'), config: errorSlot('config-error'), form: h('div', { id: 'form-error', tabindex: '-1' }),
  };

  const fillNames = () => {
    const inPrefecture = all.filter((m) => m.prefecture === prefecture.value);
    replace(name,
      h('option', { value: '' }, prefecture.value ? t('register.choose') : t('register.choosePrefectureFirst')),
      inPrefecture.map((m) => h('option', { value: m.name, 'data-code': m.code }, m.name)));
    name.disabled = !prefecture.value;
  };
  prefecture.addEventListener('change', () => {
    fillNames();
    code.value = '';
  });
  name.addEventListener('change', () => {
    const chosen = name.selectedOptions[0];
    code.value = chosen && chosen.dataset.code ? chosen.dataset.code : '';
  });
  // A typed code on the list picks its prefecture and municipality.
  code.addEventListener('input', () => {
    const m = byCode.get(code.value.normalize('NFKC').trim());
    if (!m) return;
    prefecture.value = m.prefecture;
    fillNames();
    name.value = m.name;
  });
  fillNames();

  // Configuration rows: a key (suggested from the program's keys) and a value.
  const keyList = h('datalist', { id: 'config-keys' },
    (keyCatalog.keys || []).filter((k) => k.setBy === 'municipality' || (k.setBy === 'platform team' && ctx.platform))
      .map((k) => h('option', { value: k.name, label: k.default ? `${k.description} (${k.default})` : k.description })));
  const rows = h('div', { class: 'config-rows' });
  const renumber = () => {
    [...rows.children].forEach((row, i) => {
      row.querySelector('.config-key-label').textContent = t('register.key', { n: i + 1 });
      row.querySelector('.config-value-label').textContent = t('register.value', { n: i + 1 });
      row.querySelector('.remove').setAttribute('aria-label', t('register.removeRow', { n: i + 1 }));
    });
  };
  const addRow = (focus) => {
    const keyID = uid('config-key');
    const valueID = uid('config-value');
    const errorID = uid('config-row-error');
    const key = h('input', { id: keyID, class: 'config-key', list: 'config-keys', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': errorID });
    const value = h('input', { id: valueID, class: 'config-value', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': errorID });
    const row = h('div', { class: 'config-row' },
      h('div', { class: 'field' }, h('label', { for: keyID, class: 'config-key-label' }), key),
      h('div', { class: 'field' }, h('label', { for: valueID, class: 'config-value-label' }), value),
      h('button', { type: 'button', class: 'button secondary remove' }, '×'),
      errorSlot(errorID));
    row.querySelector('.remove').addEventListener('click', () => {
      row.remove();
      renumber();
      addButton.focus();
    });
    rows.append(row);
    renumber();
    if (focus) key.focus();
  };
  const addButton = h('button', { type: 'button', class: 'button secondary', id: 'add-config', onclick: () => addRow(true) }, t('register.addRow'));
  addRow(false);

  const submit = h('button', { type: 'submit', class: 'button primary' }, t('register.submit'));
  const form = h('form', { class: 'card register', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'prefecture' }, t('register.prefecture')), prefecture, slots.prefecture),
    h('div', { class: 'field' }, h('label', { for: 'name' }, t('register.name')), name, slots.name),
    h('div', { class: 'field' }, h('label', { for: 'code' }, t('register.code')), code,
      h('p', { id: 'code-help', class: 'help' }, t('register.codeHelp')), slots.code),
    h('fieldset', { class: 'field', 'aria-describedby': 'environment-error' },
      h('legend', null, t('register.environment')),
      envs.map((radio) => h('label', { class: 'choice', for: radio.id }, radio, ' ', label('env', radio.value))),
      slots.environment),
    h('fieldset', { class: 'field config', id: 'config', 'aria-describedby': 'config-help config-error' },
      h('legend', null, t('register.config')),
      h('p', { id: 'config-help', class: 'help' }, t('register.configHelp')),
      rows, keyList, addButton, slots.config),
    slots.form,
    submit);

  const clearErrors = () => {
    for (const slot of form.querySelectorAll('.field-error')) {
      slot.hidden = true;
      slot.replaceChildren();
    }
    for (const control of form.querySelectorAll('[aria-invalid]')) control.removeAttribute('aria-invalid');
    slots.form.replaceChildren();
  };

  // showAPIError puts a refusal beside the field it names, and focuses it.
  const showAPIError = (err) => {
    const { field, reason } = err;
    const configRows = [...rows.children];
    const rowFor = (key) => configRows.find((row) => row.querySelector('.config-key').value.trim() === key);
    const simple = { code, name, prefecture, environment: envs[0] };
    if (simple[field]) {
      showFieldError(slots[field], field === 'environment' ? null : simple[field], fieldMessage(field, reason), reason);
      simple[field].focus();
      return;
    }
    if (field.startsWith('config.') && rowFor(field.slice('config.'.length))) {
      const row = rowFor(field.slice('config.'.length));
      showFieldError(row.querySelector('.field-error'), row.querySelector('.config-key'), fieldMessage(field, reason), reason);
      row.querySelector('.config-key').focus();
      return;
    }
    if (field === 'config') {
      // The program's own check names each key at fault: show each beside its row.
      let first = null;
      for (const [key, lines] of configProblems(reason)) {
        const row = rowFor(key);
        if (!row) continue;
        showFieldError(row.querySelector('.field-error'), row.querySelector('.config-value'), configMessage(key, lines), lines.join('\n'));
        first = first || row.querySelector('.config-value');
      }
      if (first) {
        first.focus();
        return;
      }
      showFieldError(slots.config, null, fieldMessage(field, reason), reason);
      (configRows[0] ? configRows[0].querySelector('.config-key') : addButton).focus();
      return;
    }
    if (field.startsWith('config')) {
      showFieldError(slots.config, null, fieldMessage(field, reason), reason);
      addButton.focus();
      return;
    }
    // A field the form does not have (the body, a header): the whole form.
    const slot = errorSlot('form-field-error');
    slots.form.append(slot);
    showFieldError(slot, null, `${field}: ${fieldMessage(field, reason)}`, reason);
    slots.form.focus();
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors();
    const config = {};
    for (const row of rows.children) {
      const key = row.querySelector('.config-key').value.trim();
      const value = row.querySelector('.config-value').value;
      if (key || value) config[key] = value;
    }
    const environment = (envs.find((r) => r.checked) || {}).value || '';
    const body = { code: code.value.normalize('NFKC').trim(), name: name.value, prefecture: prefecture.value, environment };
    if (Object.keys(config).length) body.config = config;
    submit.disabled = true;
    submit.textContent = t('register.sending');
    try {
      const answer = await api('POST', '/v1/municipalities', body);
      window.location.assign(`/jobs/${answer.job.id}`);
      return;
    } catch (err) {
      if (err instanceof APIError && err.status === 401) {
        window.location.assign(signInPath());
        return;
      }
      if (err instanceof APIError && err.status === 400 && err.field) {
        replace(slots.form, h('p', { class: 'summary' }, t('register.check')));
        showAPIError(err);
      } else {
        replace(slots.form, alertBox(err, {
          409: t('register.conflict', { code: body.code, env: label('env', environment) }),
          403: t('register.forbidden', { code: body.code }),
        }));
        slots.form.focus();
      }
    } finally {
      submit.disabled = false;
      submit.textContent = t('register.submit');
    }
  });

  replace(main,
    h('h1', null, t('register.title')),
    h('p', { class: 'lead' }, t('register.intro')),
    form);
}

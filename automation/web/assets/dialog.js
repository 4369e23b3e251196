// A modal confirmation. The native <dialog> makes the rest of the page inert
// and closes on Escape; Tab and Shift+Tab also cycle inside it, and focus
// returns to the button that opened it.
import { h, uid } from './dom.js';
import { t } from './i18n.js';

const focusable = 'button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), a[href], [tabindex]:not([tabindex="-1"])';

// confirmAction asks before an operation; with typeToConfirm the user must
// type that text (the stack's name) first. It resolves to true to go ahead.
export function confirmAction({ title, body, confirmLabel, typeToConfirm, danger }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const titleID = uid('dialog-title');
    const bodyID = uid('dialog-body');
    const inputID = uid('dialog-input');
    const errorID = uid('dialog-error');
    const error = h('p', { id: errorID, class: 'field-error', hidden: true });
    const input = typeToConfirm
      ? h('input', { id: inputID, type: 'text', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': errorID })
      : null;
    const cancel = h('button', { type: 'button', class: 'button secondary', 'data-action': 'cancel' }, t('confirm.cancel'));
    const go = h('button', { type: 'submit', class: danger ? 'button danger' : 'button primary', 'data-action': 'confirm' }, confirmLabel);
    const form = h('form', { method: 'dialog' },
      h('h2', { id: titleID }, title),
      h('p', { id: bodyID }, body),
      input && h('div', { class: 'field' }, h('label', { for: inputID }, t('confirm.typeStack', { stack: typeToConfirm })), input, error),
      h('div', { class: 'dialog-actions' }, cancel, go));
    const dialog = h('dialog', { 'aria-labelledby': titleID, 'aria-describedby': bodyID, class: 'confirm' }, form);
    let confirmed = false;

    form.addEventListener('submit', (event) => {
      if (input && input.value.trim() !== typeToConfirm) {
        event.preventDefault();
        error.hidden = false;
        error.textContent = t('confirm.mismatch', { stack: typeToConfirm });
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        return;
      }
      confirmed = true;
    });
    cancel.addEventListener('click', () => dialog.close());
    dialog.addEventListener('keydown', (event) => {
      if (event.key !== 'Tab') return;
      const items = [...dialog.querySelectorAll(focusable)];
      const first = items[0];
      const last = items[items.length - 1];
      if (event.shiftKey && document.activeElement === first) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault();
        first.focus();
      }
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (opener && typeof opener.focus === 'function') opener.focus();
      resolve(confirmed);
    });
    document.body.append(dialog);
    dialog.showModal();
    (input || cancel).focus();
  });
}

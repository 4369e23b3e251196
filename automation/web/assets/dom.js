// Building the page. Every string becomes a text node or an attribute value:
// nothing is ever parsed as HTML, so a municipality's config value or an
// engine's message shows exactly as written.

// h creates an element. Attributes are set with setAttribute (true sets an
// empty attribute; false, null and undefined leave it out); a function under
// a key starting with "on" becomes a listener. Children are nodes, strings
// (as text) or arrays of them.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

// append adds children (nodes, strings as text, nested arrays) to an element.
export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// replace empties an element and fills it with children.
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// text is an element's visible text, for comparisons in scripts.
export function text(el) {
  return el ? el.textContent : '';
}

// A unique id for label/for and aria-describedby pairs.
let lastID = 0;
export function uid(prefix) {
  lastID += 1;
  return `${prefix}-${lastID}`;
}

// scrollTable wraps a table so that a narrow screen scrolls it sideways; the
// wrapper is focusable and named so keyboard users can scroll it too.
export function scrollTable(table, label) {
  return h('div', { class: 'table-scroll', role: 'region', 'aria-label': label, tabindex: '0' }, table);
}

// table builds a table with a caption, column headers and rows of cells
// (strings or nodes); the first cell of a row is its row header.
export function table(caption, headers, rows, opts = {}) {
  return scrollTable(h('table', { class: opts.class || 'data' },
    h('caption', null, caption),
    h('thead', null, h('tr', null, headers.map((label) => h('th', { scope: 'col' }, label)))),
    h('tbody', null, rows.map((cells) => h('tr', null,
      cells.map((cell, i) => (i === 0 && opts.rowHeaders !== false ? h('th', { scope: 'row' }, cell) : h('td', null, cell))))))), caption);
}

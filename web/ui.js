// ui.js - small DOM helpers. Everything a user or the server provides goes in as
// text (textContent, attribute values), never as HTML.

// el('div', {class: 'x', onclick: fn}, child, 'text', …)
export function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') n.addEventListener(k.slice(2), v);
    else if (k === 'class') n.className = v;
    else if (k === 'text') n.textContent = v;
    else if (k in n && typeof v !== 'string') n[k] = v;
    else n.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return n;
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const timeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
export const fmtDate = (iso) => dateFmt.format(new Date(iso));
export const fmtTime = (iso) => timeFmt.format(new Date(iso));

let toastTimer;
export function toast(text) {
  const t = document.getElementById('toast');
  t.textContent = text;
  t.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove('show'), 2600);
}

// A modal question; resolves true when confirmed.
export function confirmDialog(title, text, confirmLabel) {
  return new Promise((resolve) => {
    const yes = el('button', { class: 'btn danger solid', type: 'button' }, confirmLabel);
    const no = el('button', { class: 'btn', type: 'button' }, 'Cancel');
    const d = el('dialog', { 'aria-labelledby': 'dlg-title' },
      el('h2', { id: 'dlg-title' }, title), el('p', {}, text), el('div', { class: 'actions-row' }, no, yes));
    const done = (v) => { d.close(); d.remove(); resolve(v); };
    yes.addEventListener('click', () => done(true));
    no.addEventListener('click', () => done(false));
    d.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.append(d);
    d.showModal();
    no.focus();
  });
}

// A progress line: set(fraction) for a known amount, busy(text) while waiting.
export function progress() {
  const span = el('span');
  const text = el('p');
  const root = el('div', { class: 'progress', role: 'status', 'aria-live': 'polite', hidden: true },
    el('div', { class: 'bar' }, span), text);
  return {
    root,
    set(fraction, label) {
      root.hidden = false;
      root.classList.remove('busy');
      span.style.width = `${Math.round(fraction * 100)}%`;
      text.textContent = label;
    },
    busy(label) {
      root.hidden = false;
      root.classList.add('busy');
      text.textContent = label;
    },
    hide() { root.hidden = true; },
  };
}

// A paragraph for an error in words; show(text) / clear().
export function errorLine() {
  const p = el('p', { class: 'error', role: 'alert', hidden: true });
  return {
    root: p,
    show(text) { p.textContent = text; p.hidden = false; },
    clear() { p.textContent = ''; p.hidden = true; },
  };
}

// The latest edit's prompt of a drawing, or null.
export function latestPrompt(d) {
  const e = d.edits && d.edits.length ? d.edits[d.edits.length - 1] : null;
  return e ? e.prompt : null;
}

// Small DOM helpers. Text always goes in as text nodes, never as HTML, so nothing a user
// typed can become markup; and nothing here sets inline styles (the CSP forbids them).

/** Builds an element: `h('a', {href: '/'}, 'Home')`. `on*` attributes become listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === 'class') {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
    } else if (name === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (name === 'value') {
      // The property: a textarea has no value attribute, and an input's attribute is
      // only its default.
      el.value = value;
    } else if (name in el && typeof value !== 'string') {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const priceFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

/** 90000 → "90,000". */
export function price(amount) {
  return priceFormat.format(amount);
}

/** 200, "EUR" → "200 EUR": an amount with its currency, for orders and payments. */
export function money(amount, currency) {
  return currency ? `${price(amount)} ${currency}` : price(amount);
}

/** `2 d 03:04:05`: the time left until something, to the second (never below zero). */
export function clock(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const pad = (n) => String(n).padStart(2, '0');
  const days = Math.floor(s / 86400);
  const text = `${pad(Math.floor((s % 86400) / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
  return days ? `${days} d ${text}` : text;
}

const dateFormat = new Intl.DateTimeFormat('en-GB', {
  weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
});

/** An RFC 3339 time in the reader's time zone. */
export function when(iso) {
  return iso ? dateFormat.format(new Date(iso)) : '';
}

const hourFormat = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit' });

/** The time of day of an RFC 3339 time ("14:32"), for what happens within the hour. */
export function hourOf(iso) {
  return iso ? hourFormat.format(new Date(iso)) : '';
}

/** A `<time>` element for an RFC 3339 time. */
export function time(iso) {
  return h('time', { datetime: iso }, when(iso));
}

/** Shows a short message that goes away by itself. */
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const item = h('div', { class: ['toast', kind] }, message);
  box.append(item);
  setTimeout(() => item.remove(), 6000);
}

/** An alert box for an error, with the API's per-field messages listed. */
export function errorBox(error) {
  const fields = (error.errors || []).map((e) => h('li', {}, `${e.field}: ${e.message}`));
  return h('div', { class: 'alert error', role: 'alert' },
    h('p', {}, error.message || String(error)),
    fields.length ? h('ul', {}, fields) : null);
}

/** A success or information box, announced to screen readers. */
export function noticeBox(kind, ...content) {
  return h('div', { class: ['alert', kind], role: kind === 'error' ? 'alert' : 'status' }, ...content);
}

/**
 * Marks the form's fields named in an API error (matching `name` attributes) and shows
 * each message under its field; the rest goes to `box`.
 */
export function showFormError(form, box, error) {
  form.querySelectorAll('.field-error').forEach((e) => e.remove());
  form.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
  const unplaced = [];
  for (const fieldError of error.errors || []) {
    const input = form.querySelector(`[name="${CSS.escape(fieldError.field)}"]`);
    if (!input) {
      unplaced.push(fieldError);
      continue;
    }
    const id = `${input.id || input.name}-error`;
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', id);
    input.closest('label, .field')?.append(h('span', { class: 'field-error', id }, fieldError.message));
  }
  box.replaceChildren(errorBox({ message: error.message, errors: unplaced }));
  const first = form.querySelector('[aria-invalid]');
  if (first) first.focus();
}

/** "2027-05-01T19:00:00Z" → the `datetime-local` value in the reader's zone. */
export function localInput(iso) {
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A labelled input: `field('Email', {name: 'email', type: 'email'})`. */
export function field(label, attrs, hint) {
  const { tag = 'input', options = [], ...rest } = attrs;
  const id = rest.id || `f-${rest.name}-${Math.random().toString(36).slice(2, 7)}`;
  const input = h(tag, { ...rest, id }, tag === 'input' ? [] : options);
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    input,
    hint ? h('span', { class: 'hint' }, hint) : null);
}

/** Sets the page title and returns the page heading. */
export function heading(text, level = 'h1') {
  document.title = `${text} · tickitecking`;
  return h(level, {}, text);
}

/** Disables a button while `work` runs, so a double click does not send twice. */
export async function busy(button, work) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = label;
  }
}

/** Row letters from A up to `last`. */
export function rowsUpTo(last) {
  const rows = [];
  for (let c = 65; c <= last.charCodeAt(0); c += 1) rows.push(String.fromCharCode(c));
  return rows;
}

/** Grade → colour class (`grade-0`…), most expensive first, so colours mean the same everywhere. */
export function gradeClasses(prices) {
  const sorted = [...prices].sort((a, b) => b.price - a.price || a.grade.localeCompare(b.grade));
  return new Map(sorted.map((p, i) => [p.grade, `grade-${i % 8}`]));
}

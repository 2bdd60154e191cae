// Small DOM helpers: no framework, so the page loads as plain ES modules with no build step.

/** Creates an element: h('div', {class: 'x', onclick: f}, child, 'text', [more]). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'style' && typeof value === 'object') {
      Object.assign(el.style, value);
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, value);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** An SVG element with attributes. */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const numberFormat = new Intl.NumberFormat('en-US');
export function formatCount(n) {
  return numberFormat.format(n);
}

/** Microseconds as Jaeger shows them: 1.2s, 35.5ms, 800μs. */
export function formatMicros(us) {
  if (us === 0) return '0';
  if (us >= 1e6) return `${(us / 1e6).toFixed(us >= 1e7 ? 1 : 2)}s`;
  if (us >= 1e3) return `${(us / 1e3).toFixed(us >= 1e5 ? 0 : 2)}ms`;
  return `${Math.round(us)}μs`;
}

/** A value as one line of text for a table cell. */
export function cellText(value) {
  if (value === undefined) return '';
  if (value === null) return 'null';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Reads a dotted path from a document: flattened keys (`a.b`) and nested objects both. */
export function getPath(doc, path) {
  if (doc == null) return undefined;
  if (Object.prototype.hasOwnProperty.call(doc, path)) return doc[path];
  const dot = path.indexOf('.');
  let i = dot;
  while (i !== -1) {
    const head = path.slice(0, i);
    if (doc[head] !== undefined && typeof doc[head] === 'object') {
      const found = getPath(doc[head], path.slice(i + 1));
      if (found !== undefined) return found;
    }
    i = path.indexOf('.', i + 1);
  }
  return undefined;
}

/** Flattens a document into [path, value] pairs (arrays of scalars kept whole). */
export function flatten(doc, prefix = '', out = []) {
  for (const [key, value] of Object.entries(doc || {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (value && typeof value === 'object' && !Array.isArray(value)) flatten(value, path, out);
    else out.push([path, value]);
  }
  return out;
}

/** Marks the words of `terms` inside `text` (case-insensitive, `*` as a wildcard). */
export function highlighted(text, terms) {
  if (!terms || terms.length === 0 || !text) return [text];
  const words = [];
  for (const term of terms) {
    for (const word of String(term).split(/[^\p{L}\p{N}_*?.-]+/u)) {
      if (word && word !== '*') words.push(word);
    }
  }
  if (words.length === 0) return [text];
  const alternatives = words
    .map((w) => escapeRegExp(w).replace(/\\\*/g, '[\\p{L}\\p{N}_]*').replace(/\\\?/g, '[\\p{L}\\p{N}_]'))
    .sort((a, b) => b.length - a.length);
  const pattern = new RegExp(`(${alternatives.join('|')})`, 'giu');
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match[0].length === 0) continue;
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push(h('mark', {}, match[0]));
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

/** Downloads text as a file. */
export function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A small popover anchored below an element; closes on Escape or a click outside. */
export function popover(anchor, content, { onClose } = {}) {
  closePopovers();
  const box = h('div', { class: 'popover', role: 'dialog' }, content);
  document.body.append(box);
  const rect = anchor.getBoundingClientRect();
  const left = Math.min(rect.left + window.scrollX, window.innerWidth - box.offsetWidth - 8);
  box.style.left = `${Math.max(8, left)}px`;
  box.style.top = `${rect.bottom + window.scrollY + 4}px`;
  const close = () => {
    box.remove();
    document.removeEventListener('mousedown', outside, true);
    document.removeEventListener('keydown', escape, true);
    onClose?.();
  };
  const outside = (e) => {
    if (!box.contains(e.target) && e.target !== anchor) close();
  };
  const escape = (e) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      close();
      anchor.focus?.();
    }
  };
  box.close = close;
  setTimeout(() => {
    document.addEventListener('mousedown', outside, true);
    document.addEventListener('keydown', escape, true);
  });
  const focusable = box.querySelector('input, button, select, [tabindex]');
  focusable?.focus();
  return box;
}

export function closePopovers() {
  for (const box of document.querySelectorAll('.popover')) box.close?.() ?? box.remove();
}

/** A toast message at the bottom of the page. */
export function toast(message, kind = 'info') {
  const box = h('div', { class: `toast toast-${kind}`, role: 'status' }, message);
  document.body.append(box);
  setTimeout(() => box.remove(), 4000);
}

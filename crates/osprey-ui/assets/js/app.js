// The page: header, views (logs, traces, trace, service map), URL routing and keyboard.
import { h, replace, closePopovers, toast } from './dom.js';
import { readUrl, writeUrl, theme } from './state.js';
import { Discover } from './discover.js';
import { Traces } from './traces.js';
import { TraceView } from './trace_view.js';

const SHORTCUTS = [
  ['/', 'Focus the query bar (logs), the service (traces), or span search (trace)'],
  ['Enter', 'Run the query; open the selected document'],
  ['j / k or ↓ / ↑', 'Move through results or spans'],
  ['← / →', 'Collapse / expand the selected span'],
  ['f', 'Search field names (logs)'],
  ['r', 'Refresh (logs)'],
  ['s', 'Go to the slowest span (trace)'],
  ['Esc', 'Close the document, span or popup'],
  ['1 / 2 / 3', 'Logs / Traces / Service map'],
  ['t', 'Light or dark theme'],
  ['?', 'This help'],
];

class App {
  constructor() {
    theme.set(theme.get());
    this.main = h('main', { id: 'main' });
    this.nav = h('nav', { class: 'views', 'aria-label': 'Views' });
    this.themeButton = h('button', { id: 'theme', class: 'icon', 'aria-label': 'Toggle light and dark theme (t)', onclick: () => this.toggleTheme() });
    document.body.replaceChildren(
      h('header', { class: 'app-head' },
        h('a', { class: 'brand', href: '/' }, h('img', { src: '/ui/favicon.svg', alt: '', width: 22, height: 22 }), 'Osprey'),
        this.nav,
        h('div', { class: 'spacer' }),
        h('button', { id: 'help', class: 'icon', 'aria-label': 'Keyboard shortcuts (?)', onclick: () => this.help() }, '?'),
        this.themeButton),
      this.main);
    this.views = {};
    window.addEventListener('popstate', () => this.route());
    document.addEventListener('click', (e) => this.onLink(e));
    document.addEventListener('keydown', (e) => this.onKey(e));
    window.addEventListener('error', (e) => toast(`Error: ${e.message}`, 'error'));
    window.addEventListener('unhandledrejection', (e) => toast(`Error: ${e.reason?.message ?? e.reason}`, 'error'));
    this.route();
  }

  toggleTheme() {
    theme.set(theme.get() === 'dark' ? 'light' : 'dark');
    this.renderNav();
  }

  setState(partial, { push = false } = {}) {
    writeUrl({ ...this.state, ...partial }, { push });
    this.route();
  }

  navigate(href) {
    history.pushState(null, '', href);
    this.route();
  }

  openTraceJson(trace) {
    this.view('trace').openJson(trace);
    this.navigate(`/?view=trace&id=${encodeURIComponent(trace.traceID)}`);
  }

  onLink(e) {
    const a = e.target.closest?.('a[href]');
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || url.pathname !== '/') return;
    e.preventDefault();
    closePopovers();
    this.navigate(url.pathname + url.search);
  }

  view(name) {
    const kind = { logs: Discover, traces: Traces, map: Traces, trace: TraceView }[name] ?? Discover;
    const key = name === 'map' ? 'traces' : name in { logs: 1, traces: 1, trace: 1 } ? name : 'logs';
    if (!this.views[key]) {
      const root = h('div', { class: `view view-${key}` });
      this.views[key] = { root, instance: new kind(root, this) };
    }
    return this.views[key].instance;
  }

  async route() {
    this.state = readUrl();
    const name = ['logs', 'traces', 'map', 'trace'].includes(this.state.view) ? this.state.view : 'logs';
    const view = this.view(name);
    if (this.current && this.current !== view) this.current.stop();
    this.current = view;
    const key = name === 'map' ? 'traces' : name;
    if (this.main.firstChild !== this.views[key].root) replace(this.main, this.views[key].root);
    this.renderNav();
    document.title = { logs: 'Logs', traces: 'Traces', map: 'Service map', trace: `Trace ${this.state.id.slice(0, 7)}` }[name] + ' · Osprey';
    try {
      await view.show(this.state);
    } catch (error) {
      console.warn(error);
      toast(error.message, 'error');
    }
  }

  renderNav() {
    const name = this.state?.view ?? 'logs';
    const link = (view, label, key) => h('a', { href: `/?view=${view}`, class: name === view || (view === 'traces' && name === 'trace') ? 'active' : '', 'aria-current': name === view ? 'page' : undefined, title: `${label} (${key})` }, label);
    replace(this.nav, link('logs', 'Logs', '1'), link('traces', 'Traces', '2'), link('map', 'Service map', '3'));
    this.themeButton.textContent = theme.get() === 'dark' ? '☀' : '☾';
  }

  help() {
    const dialog = h('dialog', { id: 'shortcuts', class: 'dialog', 'aria-label': 'Keyboard shortcuts' },
      h('h3', {}, 'Keyboard shortcuts'),
      h('table', { class: 'kv-table' }, h('tbody', {}, SHORTCUTS.map(([k, v]) => h('tr', {}, h('th', {}, h('kbd', {}, k)), h('td', {}, v))))),
      h('form', { method: 'dialog' }, h('button', { class: 'button primary' }, 'Close')));
    document.body.append(dialog);
    dialog.addEventListener('close', () => dialog.remove());
    dialog.showModal();
  }

  onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const typing = ['INPUT', 'TEXTAREA', 'SELECT'].includes(e.target.tagName);
    if (typing && e.key !== 'Escape') return;
    if (typing && e.key === 'Escape') {
      e.target.blur();
      return;
    }
    if (document.querySelector('dialog[open], .popover')) return;
    if (this.current?.shortcut?.(e)) return;
    const go = { 1: 'logs', 2: 'traces', 3: 'map' }[e.key];
    if (go) this.navigate(`/?view=${go}`);
    else if (e.key === 't') this.toggleTheme();
    else if (e.key === '?') this.help();
  }
}

new App();

// Trace search (as the Jaeger UI's: service, operation, tags, lookback, durations, limit),
// with a scatter plot and a sortable list; trace comparison; the service map with rate,
// errors and latency percentiles per service and operation computed from the spans found.
import { jaeger } from './api.js';
import { h, replace, formatMicros, formatCount, toast, svg } from './dom.js';
import { scatter } from './charts.js';
import { hrefFor } from './state.js';
import { durationMs, formatTime } from './time.js';

const CUSTOM = 'custom';
const LOOKBACKS = [['5m', 'Last 5 minutes'], ['15m', 'Last 15 minutes'], ['1h', 'Last hour'], ['2h', 'Last 2 hours'], ['6h', 'Last 6 hours'], ['12h', 'Last 12 hours'], ['1d', 'Last 24 hours'], ['2d', 'Last 2 days'], ['7d', 'Last 7 days'], [CUSTOM, 'Custom time range']];

/** An ISO date as a `datetime-local` input's value (local time, to the second). */
function localInput(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const d = new Date(t - new Date(t).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 19);
}

/** One found trace, summarised as the Jaeger UI's search results. */
export function summarise(trace) {
  const spans = trace.spans;
  const processes = trace.processes || {};
  const ids = new Set(spans.map((s) => s.spanID));
  const roots = spans.filter((s) => !(s.references || []).some((r) => r.refType === 'CHILD_OF' && ids.has(r.spanID)));
  const root = roots.sort((a, b) => a.startTime - b.startTime)[0] || spans[0];
  const start = Math.min(...spans.map((s) => s.startTime));
  const end = Math.max(...spans.map((s) => s.startTime + s.duration));
  const services = new Map();
  let errors = 0;
  for (const span of spans) {
    const name = processes[span.processID]?.serviceName ?? '?';
    services.set(name, (services.get(name) || 0) + 1);
    if (isError(span)) errors += 1;
  }
  return {
    id: trace.traceID,
    name: root ? `${processes[root.processID]?.serviceName ?? '?'}: ${root.operationName}` : trace.traceID,
    time: start / 1000,
    start,
    duration: end - start,
    spans: spans.length,
    errors,
    error: errors > 0,
    services: [...services.entries()].sort((a, b) => b[1] - a[1]),
  };
}

export function isError(span) {
  return (span.tags || []).some((t) => (t.key === 'error' && (t.value === true || t.value === 'true')) || (t.key === 'otel.status_code' && t.value === 'ERROR'));
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export class Traces {
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.results = [];
    this.sortBy = 'recent';
    this.checked = new Set();
  }

  async show(state) {
    this.state = state;
    if (state.view === 'map') return this.showMap(state);
    if (!this.form) await this.buildForm();
    this.fillForm(state);
    if (state.service) await this.search();
    else this.renderResults();
  }

  async buildForm() {
    this.service = h('select', { id: 'trace-service', 'aria-label': 'Service', onchange: () => this.loadOperations() });
    this.operation = h('select', { id: 'trace-operation', 'aria-label': 'Operation' });
    this.tags = h('input', { id: 'trace-tags', placeholder: 'http.status_code=500 error=true', 'aria-label': 'Tags (logfmt)' });
    this.lookback = h('select', { id: 'trace-lookback', 'aria-label': 'Lookback', onchange: () => this.showWindow() }, LOOKBACKS.map(([v, l]) => h('option', { value: v }, l)));
    this.start = h('input', { id: 'trace-start', type: 'datetime-local', step: 1, 'aria-label': 'Start' });
    this.end = h('input', { id: 'trace-end', type: 'datetime-local', step: 1, 'aria-label': 'End' });
    this.window = h('div', { class: 'trace-window', hidden: true }, h('label', {}, 'Start', this.start), h('label', {}, 'End', this.end));
    this.minDuration = h('input', { id: 'trace-min-duration', placeholder: 'e.g. 100ms', size: 8, 'aria-label': 'Min duration' });
    this.maxDuration = h('input', { id: 'trace-max-duration', placeholder: 'e.g. 1.2s', size: 8, 'aria-label': 'Max duration' });
    this.limit = h('input', { id: 'trace-limit', type: 'number', min: 1, max: 1500, value: 20, 'aria-label': 'Limit results' });
    this.form = h('form', { class: 'trace-form', onsubmit: (e) => { e.preventDefault(); this.submit(); } },
      h('label', {}, 'Service', this.service), h('label', {}, 'Operation', this.operation),
      h('label', {}, 'Tags', this.tags), h('label', {}, 'Lookback', this.lookback), this.window,
      h('label', {}, 'Min duration', this.minDuration), h('label', {}, 'Max duration', this.maxDuration),
      h('label', {}, 'Limit', this.limit),
      h('button', { id: 'find-traces', class: 'button primary', type: 'submit' }, 'Find traces'),
      h('label', { class: 'open-json button', title: 'Open a trace JSON file (Jaeger format)' }, 'Open JSON…',
        h('input', { type: 'file', accept: '.json,application/json', hidden: true, onchange: (e) => this.openFile(e.target.files[0]) })));
    this.scatterBox = h('div', { id: 'trace-scatter', class: 'scatter-box' });
    this.list = h('div', { id: 'trace-list' });
    replace(this.root, h('div', { class: 'traces-page' }, h('aside', { class: 'trace-search' }, h('h3', {}, 'Search'), this.form),
      h('section', { class: 'trace-results' }, this.scatterBox, this.list)));
    try {
      const services = (await jaeger.services()).data || [];
      replace(this.service, h('option', { value: '' }, services.length ? 'Choose a service' : 'No service yet'), services.sort().map((s) => h('option', { value: s }, s)));
    } catch (error) {
      toast(`Cannot list services: ${error.message}`, 'error');
    }
  }

  fillForm(state) {
    this.service.value = state.service;
    this.loadOperations(state.operation);
    this.tags.value = state.tags;
    this.lookback.value = state.lookback;
    this.start.value = localInput(state.start);
    this.end.value = localInput(state.end);
    this.showWindow();
    this.minDuration.value = state.minDuration;
    this.maxDuration.value = state.maxDuration;
    this.limit.value = state.limit;
  }

  showWindow() {
    this.window.hidden = this.lookback.value !== CUSTOM;
  }

  async loadOperations(selected = '') {
    const service = this.service.value;
    replace(this.operation, h('option', { value: '' }, 'all'));
    if (!service) return;
    try {
      const operations = (await jaeger.operations(service)).data || [];
      const names = [...new Set(operations.map((o) => o.name))].sort();
      this.operation.append(...names.map((n) => h('option', { value: n, selected: n === selected }, n)));
    } catch (error) {
      toast(error.message, 'error');
    }
  }

  submit() {
    this.app.setState({
      view: 'traces', service: this.service.value, operation: this.operation.value, tags: this.tags.value.trim(),
      lookback: this.lookback.value,
      start: this.lookback.value === CUSTOM && this.start.value ? new Date(this.start.value).toISOString() : '',
      end: this.lookback.value === CUSTOM && this.end.value ? new Date(this.end.value).toISOString() : '',
      minDuration: this.minDuration.value.trim(), maxDuration: this.maxDuration.value.trim(), limit: this.limit.value,
    }, { push: true });
  }

  async search() {
    const s = this.state;
    const tags = {};
    for (const match of s.tags.matchAll(/([^\s=]+)=("([^"]*)"|\S*)/g)) tags[match[1]] = match[3] ?? match[2];
    const custom = s.lookback === CUSTOM;
    const end = (custom && s.end ? Date.parse(s.end) : Date.now()) * 1000;
    const start = custom ? (s.start ? Date.parse(s.start) * 1000 : end - 3600e6) : end - durationMs(s.lookback) * 1000;
    const params = {
      service: s.service, operation: s.operation, limit: s.limit, lookback: custom ? 'custom' : s.lookback,
      start, end,
      minDuration: s.minDuration, maxDuration: s.maxDuration,
      tags: Object.keys(tags).length ? JSON.stringify(tags) : '',
    };
    this.root.classList.add('loading');
    try {
      const answer = await jaeger.find(params);
      this.traces = answer.data || [];
      this.results = this.traces.map(summarise);
      this.renderResults();
    } catch (error) {
      replace(this.list, h('p', { class: 'error', role: 'alert' }, error.message));
    } finally {
      this.root.classList.remove('loading');
    }
  }

  renderResults() {
    const sorters = {
      recent: (a, b) => b.start - a.start,
      longest: (a, b) => b.duration - a.duration,
      shortest: (a, b) => a.duration - b.duration,
      spans: (a, b) => b.spans - a.spans,
    };
    const results = [...this.results].sort(sorters[this.sortBy]);
    scatter(this.scatterBox, results, { onOpen: (id) => this.app.navigate(hrefFor({ view: 'trace', id })) });
    const sort = h('select', { id: 'trace-sort', 'aria-label': 'Sort', onchange: (e) => { this.sortBy = e.target.value; this.renderResults(); } },
      [['recent', 'Most recent'], ['longest', 'Longest first'], ['shortest', 'Shortest first'], ['spans', 'Most spans']].map(([v, l]) => h('option', { value: v, selected: v === this.sortBy }, l)));
    const compare = h('button', {
      id: 'compare-traces', class: 'button', disabled: this.checked.size !== 2,
      onclick: () => { const [a, b] = [...this.checked]; this.app.navigate(hrefFor({ view: 'trace', id: a, compare: b })); },
    }, 'Compare two');
    const maxDuration = Math.max(1, ...results.map((r) => r.duration));
    replace(this.list,
      h('div', { class: 'row list-head' }, h('strong', {}, `${results.length} trace${results.length === 1 ? '' : 's'}`), sort, compare,
        this.traces?.length ? h('a', { class: 'button', href: hrefFor({ view: 'map' }) }, 'Service map') : null),
      this.state?.service && results.length ? this.metrics() : null,
      results.map((r) => h('article', { class: `trace-item${r.error ? ' has-error' : ''}`, dataset: { trace: r.id } },
        h('input', { type: 'checkbox', 'aria-label': `Select ${r.id} for comparison`, checked: this.checked.has(r.id), onchange: (e) => { if (e.target.checked) this.checked.add(r.id); else this.checked.delete(r.id); this.renderResults(); } }),
        h('a', { class: 'trace-link', href: hrefFor({ view: 'trace', id: r.id }) },
          h('div', { class: 'trace-title' }, h('strong', {}, r.name), h('span', { class: 'trace-id muted' }, r.id.slice(0, 7)), h('span', { class: 'duration' }, formatMicros(r.duration))),
          h('div', { class: 'trace-bar' }, h('span', { style: { width: `${(r.duration / maxDuration) * 100}%` } })),
          h('div', { class: 'trace-meta' },
            h('span', {}, `${r.spans} spans`), r.errors ? h('span', { class: 'error-count' }, `${r.errors} error${r.errors === 1 ? '' : 's'}`) : null,
            r.services.map(([name, count]) => h('span', { class: 'service-tag' }, `${name} (${count})`)),
            h('span', { class: 'muted' }, formatTime(r.time)))))),
      results.length === 0 && this.state?.service ? h('p', { class: 'muted' }, 'No trace matches. Widen the lookback or remove a tag.') : null);
  }

  /** Rate, errors and latency percentiles per operation, computed from the spans found. */
  metrics() {
    const byOperation = new Map();
    for (const trace of this.traces) {
      for (const span of trace.spans) {
        const service = trace.processes?.[span.processID]?.serviceName;
        if (service !== this.state.service) continue;
        const entry = byOperation.get(span.operationName) || { durations: [], errors: 0 };
        entry.durations.push(span.duration);
        if (isError(span)) entry.errors += 1;
        byOperation.set(span.operationName, entry);
      }
    }
    // Rates over the lookback. They are exact only when the search found every matching trace
    // (fewer than its limit); otherwise they are lower bounds, and say so.
    const s = this.state;
    const spanMs = s.lookback === CUSTOM ? (Date.parse(s.end) || Date.now()) - (Date.parse(s.start) || Date.now() - 3600e3) : durationMs(s.lookback);
    const minutes = Math.max(1, spanMs / 6e4);
    const complete = this.traces.length < Number(this.state.limit);
    const rows = [...byOperation.entries()].sort((a, b) => b[1].durations.length - a[1].durations.length);
    return h('details', { class: 'red-metrics', open: true },
      h('summary', {}, `${this.state.service}: rate, errors and latency of the spans in the ${formatCount(this.traces.length)} trace${this.traces.length === 1 ? '' : 's'} found`),
      complete ? null : h('p', { class: 'muted', id: 'red-sampled' }, `The search stopped at its limit of ${this.state.limit} traces: rates are lower bounds, and errors and percentiles describe these traces only. Raise the limit (up to 1,500) to see every trace of the lookback.`),
      h('table', { class: 'stats-table', id: 'red-metrics' },
        h('thead', {}, h('tr', {}, ['Operation', 'Spans', 'Rate/min', 'Errors', 'p50', 'p95', 'p99'].map((c) => h('th', {}, c)))),
        h('tbody', {}, rows.map(([name, e]) => {
          const sorted = e.durations.sort((a, b) => a - b);
          return h('tr', {}, h('td', {}, name), h('td', {}, formatCount(sorted.length)), h('td', {}, `${complete ? '' : '≥ '}${(sorted.length / minutes).toFixed(1)}`),
            h('td', { class: e.errors ? 'error' : '' }, `${((e.errors / sorted.length) * 100).toFixed(1)}%`),
            h('td', {}, formatMicros(percentile(sorted, 50))), h('td', {}, formatMicros(percentile(sorted, 95))), h('td', {}, formatMicros(percentile(sorted, 99))));
        }))));
  }

  async openFile(file) {
    if (!file) return;
    try {
      const json = JSON.parse(await file.text());
      const trace = json.data?.[0] ?? json;
      if (!trace.spans) throw new Error('no "spans" in this file: it is not a Jaeger trace');
      this.app.openTraceJson(trace);
    } catch (error) {
      toast(`Cannot open ${file.name}: ${error.message}`, 'error');
    }
  }

  // ------------------------------------------------------------------ service map

  async showMap() {
    this.form = null;
    const box = h('div', { id: 'service-map', class: 'service-map' });
    replace(this.root, h('section', { class: 'map-page' }, h('h3', {}, 'Service map (last 24 hours)'), box));
    try {
      const deps = (await jaeger.dependencies({ endTs: Date.now(), lookback: 86_400_000 })).data || [];
      this.drawMap(box, deps);
    } catch (error) {
      replace(box, h('p', { class: 'error' }, error.message));
    }
  }

  drawMap(box, deps) {
    const names = [...new Set(deps.flatMap((d) => [d.parent, d.child]))].sort();
    if (names.length === 0) {
      replace(box, h('p', { class: 'muted' }, 'No calls between services yet.'));
      return;
    }
    const width = Math.max(600, box.clientWidth || 900);
    const height = 480;
    const cx = width / 2;
    const cy = height / 2;
    const radius = Math.min(cx, cy) - 80;
    const at = new Map(names.map((n, i) => {
      const angle = (2 * Math.PI * i) / names.length - Math.PI / 2;
      return [n, [cx + radius * Math.cos(angle), cy + radius * Math.sin(angle)]];
    }));
    const maxCalls = Math.max(1, ...deps.map((d) => d.callCount));
    const root = svg('svg', { width, height, class: 'map', role: 'img', 'aria-label': 'Calls between services' },
      svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 28, refY: 5, markerWidth: 8, markerHeight: 8, orient: 'auto-start-reverse' }, svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow' }))));
    for (const d of deps) {
      const [x1, y1] = at.get(d.parent);
      const [x2, y2] = at.get(d.child);
      const edge = svg('line', { class: 'edge', x1, y1, x2, y2, 'stroke-width': 1 + (4 * d.callCount) / maxCalls, 'marker-end': 'url(#arrow)' });
      edge.append(svg('title', {}, `${d.parent} → ${d.child}: ${formatCount(d.callCount)} calls`));
      root.append(edge, svg('text', { class: 'edge-label', x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 4, 'text-anchor': 'middle' }, formatCount(d.callCount)));
    }
    for (const name of names) {
      const [x, y] = at.get(name);
      const node = svg('a', { href: hrefFor({ view: 'traces', service: name }) },
        svg('circle', { class: 'node', cx: x, cy: y, r: 22 }),
        svg('text', { class: 'node-label', x, y: y + 38, 'text-anchor': 'middle' }, name));
      root.append(node);
    }
    replace(box, root);
  }

  shortcut(e) {
    if (e.key === '/' && this.service) {
      e.preventDefault();
      this.service.focus();
      return true;
    }
    return false;
  }

  stop() {}
}

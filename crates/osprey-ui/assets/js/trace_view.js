// One trace: timeline with a collapsible span tree (virtualised rows: a 10,000-span trace
// scrolls as smoothly as a small one), the critical path, span details with links to the
// span's logs, flame graph, service graph, statistics, comparison with another trace, and
// the trace's JSON.
import { api, jaeger } from './api.js';
import { h, replace, svg, formatMicros, formatCount, cellText, download } from './dom.js';
import { hrefFor } from './state.js';
import { isoTime, formatTime } from './time.js';
import { isError } from './traces.js';
import { traceLogsQuery } from './discover.js';

const ROW = 26;
const POD_TAGS = ['k8s.pod.name', 'kubernetes.pod_name', 'pod', 'hostname', 'host.name'];
const POD_FIELDS = { 'k8s.pod.name': 'kubernetes.pod_name', 'kubernetes.pod_name': 'kubernetes.pod_name', pod: 'kubernetes.pod_name', hostname: 'host.name', 'host.name': 'host.name' };

/** The trace as a tree: spans in depth-first order with depth, children and self time. */
export function buildTree(trace) {
  const processes = trace.processes || {};
  const byId = new Map();
  for (const span of trace.spans) {
    byId.set(span.spanID, {
      span, id: span.spanID, service: processes[span.processID]?.serviceName ?? '?', process: processes[span.processID],
      start: span.startTime, end: span.startTime + span.duration, children: [], depth: 0, parent: null, error: isError(span), critical: [],
    });
  }
  const roots = [];
  for (const node of byId.values()) {
    const ref = (node.span.references || []).find((r) => byId.has(r.spanID) && r.spanID !== node.id);
    if (ref) {
      node.parent = byId.get(ref.spanID);
      node.parent.children.push(node);
    } else {
      roots.push(node);
    }
  }
  const order = [];
  const byStart = (a, b) => a.start - b.start;
  roots.sort(byStart);
  const stack = [...roots].reverse();
  while (stack.length) {
    const node = stack.pop();
    node.depth = node.parent ? node.parent.depth + 1 : 0;
    order.push(node);
    node.children.sort(byStart);
    for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]);
  }
  for (const node of order) {
    // Self time: the span's time not covered by any child.
    let covered = 0;
    let cursor = node.start;
    for (const child of node.children) {
      const s = Math.max(cursor, child.start);
      const e = Math.min(node.end, child.end);
      if (e > s) { covered += e - s; cursor = e; }
    }
    node.self = node.span.duration - covered;
  }
  const start = Math.min(...order.map((n) => n.start));
  const end = Math.max(...order.map((n) => n.end));
  for (const root of roots) markCriticalPath(root, root.end);
  return { order, roots, byId, start, end, duration: end - start };
}

/**
 * The critical path: walking back from the end of a span, the child that finished last
 * (before the cursor) is what the span waited for; the span's own time between children is
 * on the path too. Each node gets the [start, end] segments that are on it.
 */
function markCriticalPath(root, endCursor) {
  const work = [[root, endCursor]];
  while (work.length) {
    const [node, limit] = work.pop();
    let cursor = Math.min(node.end, limit);
    const children = [...node.children].sort((a, b) => b.end - a.end);
    for (const child of children) {
      if (child.start >= cursor) continue;
      const childEnd = Math.min(child.end, cursor);
      if (childEnd < cursor) node.critical.push([childEnd, cursor]);
      work.push([child, childEnd]);
      cursor = child.start;
      if (cursor <= node.start) break;
    }
    if (cursor > node.start) node.critical.push([node.start, cursor]);
  }
}

function serviceColor(name) {
  let hash = 0;
  for (const c of name) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return `hsl(${hash % 360} 60% 50%)`;
}

export class TraceView {
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.collapsed = new Set();
  }

  async show(state) {
    this.state = state;
    if (!this.trace || this.trace.traceID !== state.id || this.compareId !== state.compare) {
      replace(this.root, h('p', { class: 'muted' }, 'Loading trace…'));
      try {
        this.trace = this.fromFile?.traceID === state.id ? this.fromFile : (await jaeger.trace(state.id)).data[0];
        this.compare = state.compare ? (await jaeger.trace(state.compare)).data[0] : null;
        this.compareId = state.compare;
      } catch (error) {
        replace(this.root, h('p', { class: 'error', role: 'alert' }, `Trace ${state.id}: ${error.message}`));
        this.trace = null;
        return;
      }
      this.tree = buildTree(this.trace);
      this.collapsed = new Set();
      this.build();
      this.loadLogFields();
    }
    this.showTab(this.compare ? 'compare' : state.tab);
    if (state.span) this.selectSpan(state.span, false);
  }

  openJson(trace) {
    this.fromFile = trace;
  }

  build() {
    const t = this.tree;
    const services = new Set(t.order.map((n) => n.service));
    const root = t.roots[0];
    const slowest = t.order.reduce((a, b) => (b.self > a.self ? b : a), t.order[0]);
    this.tabs = h('div', { class: 'tabs', role: 'tablist' },
      [['timeline', 'Timeline'], ['flame', 'Flame graph'], ['graph', 'Graph'], ['stats', 'Statistics'], this.compare ? ['compare', 'Compare'] : null].filter(Boolean)
        .map(([tab, label]) => h('button', { role: 'tab', dataset: { tab }, onclick: () => this.app.setState({ tab }, { push: false }) }, label)));
    this.find = h('input', { id: 'span-find', type: 'search', placeholder: 'Find spans (service, operation, tag value)', 'aria-label': 'Find spans', oninput: () => this.applyFind(), onkeydown: (e) => { if (e.key === 'Enter') this.nextMatch(); } });
    this.body = h('div', { class: 'trace-body' });
    this.detail = h('aside', { id: 'span-detail', class: 'span-detail', hidden: true, 'aria-label': 'Span' });
    replace(this.root,
      h('header', { class: 'trace-head' },
        h('h2', {}, h('span', { class: 'service-dot', style: { background: serviceColor(root.service) } }), `${root.service}: ${root.span.operationName}`, h('span', { class: 'trace-id muted' }, ` ${this.trace.traceID}`)),
        h('dl', { class: 'trace-summary' },
          h('dt', {}, 'Start'), h('dd', {}, formatTime(t.start / 1000)),
          h('dt', {}, 'Duration'), h('dd', { id: 'trace-duration' }, formatMicros(t.duration)),
          h('dt', {}, 'Services'), h('dd', {}, services.size),
          h('dt', {}, 'Depth'), h('dd', {}, Math.max(...t.order.map((n) => n.depth)) + 1),
          h('dt', {}, 'Spans'), h('dd', { id: 'trace-span-count' }, formatCount(t.order.length)),
          h('dt', {}, 'Errors'), h('dd', {}, t.order.filter((n) => n.error).length)),
        h('div', { class: 'row' },
          this.find,
          h('button', { id: 'slowest-span', class: 'button', title: 'The span with the most time of its own (not waiting for children)', onclick: () => this.selectSpan(slowest.id, true) },
            `Slowest span: ${slowest.service} ${slowest.span.operationName} (${formatMicros(slowest.self)} self)`),
          this.traceLogsLink = h('a', { id: 'trace-logs', class: 'button', href: this.logsHref(null) }, 'Logs of this trace'),
          h('button', { id: 'download-json', class: 'button', onclick: () => download(`trace-${this.trace.traceID}.json`, 'application/json', JSON.stringify({ data: [this.trace] }, null, 2)) }, 'Download JSON'))),
      this.tabs, h('div', { class: 'trace-main' }, this.body, this.detail));
  }

  showTab(tab) {
    this.tab = tab;
    for (const b of this.tabs.children) b.setAttribute('aria-selected', b.dataset.tab === tab);
    if (tab === 'flame') this.renderFlame();
    else if (tab === 'graph') this.renderGraph();
    else if (tab === 'stats') this.renderStats();
    else if (tab === 'compare') this.renderCompare();
    else this.renderTimeline();
  }

  // ------------------------------------------------------------------ timeline

  visible() {
    const rows = [];
    const hidden = new Set();
    for (const node of this.tree.order) {
      if (node.parent && (hidden.has(node.parent.id) || this.collapsed.has(node.parent.id))) {
        hidden.add(node.id);
        continue;
      }
      rows.push(node);
    }
    return rows;
  }

  renderTimeline() {
    const t = this.tree;
    const ticks = [0, 0.25, 0.5, 0.75, 1];
    this.timeline = h('div', { id: 'timeline', class: 'timeline', tabindex: '0', role: 'tree', 'aria-label': 'Spans' });
    this.timelineSpacer = h('div', { class: 'timeline-spacer' });
    this.timeline.append(this.timelineSpacer);
    this.timeline.addEventListener('scroll', () => this.renderSpanRows());
    this.timeline.addEventListener('keydown', (e) => this.onTimelineKey(e));
    replace(this.body,
      h('div', { class: 'timeline-head' }, h('span', { class: 'span-name-col' }, 'Service & operation',
        h('button', { class: 'link small', onclick: () => { this.collapsed = new Set(t.order.filter((n) => n.children.length && n.depth >= 1).map((n) => n.id)); this.renderSpanRows(true); } }, 'collapse'),
        h('button', { class: 'link small', onclick: () => { this.collapsed.clear(); this.renderSpanRows(true); } }, 'expand')),
      h('span', { class: 'span-bar-col ticks' }, ticks.map((f) => h('span', { class: 'tick', style: { left: `${f * 100}%` } }, formatMicros(f * t.duration))))),
      this.timeline,
      h('p', { class: 'legend muted' }, h('span', { class: 'critical-swatch' }), ' critical path · ', h('span', { class: 'error-swatch' }), ' error'));
    this.renderSpanRows(true);
  }

  renderSpanRows(force = false) {
    if (!this.timeline) return;
    this.rows = this.visible();
    const rows = this.rows;
    this.timelineSpacer.style.height = `${rows.length * ROW}px`;
    const top = this.timeline.scrollTop;
    const height = this.timeline.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW) - 10);
    const last = Math.min(rows.length, Math.ceil((top + height) / ROW) + 10);
    if (!force && this.window && this.window[0] === first && this.window[1] === last) return;
    this.window = [first, last];
    const t = this.tree;
    const pct = (us) => `${((us - t.start) / Math.max(1, t.duration)) * 100}%`;
    const width = (us) => `${Math.max(0.1, (us / Math.max(1, t.duration)) * 100)}%`;
    const out = [];
    for (let i = first; i < last; i++) {
      const n = rows[i];
      const match = this.matches?.has(n.id);
      out.push(h('div', {
        class: `span-row${n.id === this.selected ? ' selected' : ''}${match ? ' match' : ''}${n.error ? ' error' : ''}`,
        role: 'treeitem', 'aria-level': n.depth + 1, 'aria-expanded': n.children.length ? String(!this.collapsed.has(n.id)) : undefined,
        style: { top: `${i * ROW}px` }, dataset: { span: n.id, index: i }, onclick: () => this.selectSpan(n.id, false),
      },
      h('span', { class: 'span-name-col', style: { paddingLeft: `${8 + n.depth * 14}px` } },
        n.children.length ? h('button', { class: 'icon toggle', 'aria-label': this.collapsed.has(n.id) ? 'Expand' : 'Collapse', onclick: (e) => { e.stopPropagation(); this.toggle(n.id); } }, this.collapsed.has(n.id) ? '▸' : '▾') : h('span', { class: 'toggle-space' }),
        h('span', { class: 'service-dot', style: { background: serviceColor(n.service) } }),
        h('span', { class: 'span-service' }, n.service), ' ', h('span', { class: 'span-op' }, n.span.operationName),
        n.error ? h('span', { class: 'error-mark', title: 'error' }, '!') : null),
      h('span', { class: 'span-bar-col' },
        h('span', { class: 'span-bar', style: { left: pct(n.start), width: width(n.span.duration), background: serviceColor(n.service) } }),
        n.critical.map(([s, e]) => h('span', { class: 'critical', style: { left: pct(s), width: width(e - s) } })),
        h('span', { class: 'span-duration', style: { left: pct(n.end) } }, formatMicros(n.span.duration)))));
    }
    replace(this.timelineSpacer, out);
  }

  toggle(id) {
    if (this.collapsed.has(id)) this.collapsed.delete(id);
    else this.collapsed.add(id);
    this.renderSpanRows(true);
  }

  onTimelineKey(e) {
    const rows = this.rows || [];
    const i = rows.findIndex((n) => n.id === this.selected);
    const node = rows[i];
    if (e.key === 'ArrowDown' || e.key === 'j') this.selectSpan(rows[Math.min(rows.length - 1, i + 1)]?.id, true);
    else if (e.key === 'ArrowUp' || e.key === 'k') this.selectSpan(rows[Math.max(0, i - 1)]?.id, true);
    else if (e.key === 'ArrowLeft' && node?.children.length && !this.collapsed.has(node.id)) this.toggle(node.id);
    else if (e.key === 'ArrowRight' && node && this.collapsed.has(node.id)) this.toggle(node.id);
    else if (e.key === 'Escape') this.selectSpan(null);
    else return;
    e.preventDefault();
  }

  applyFind() {
    const text = this.find.value.trim().toLowerCase();
    if (!text) {
      this.matches = null;
    } else {
      this.matches = new Set(this.tree.order.filter((n) => `${n.service} ${n.span.operationName} ${n.id} ${(n.span.tags || []).map((t) => `${t.key}=${t.value}`).join(' ')}`.toLowerCase().includes(text)).map((n) => n.id));
    }
    this.renderSpanRows(true);
  }

  nextMatch() {
    if (!this.matches?.size) return;
    const order = this.tree.order.filter((n) => this.matches.has(n.id));
    const at = order.findIndex((n) => n.id === this.selected);
    this.selectSpan(order[(at + 1) % order.length].id, true);
  }

  /** Selects a span: shows its details, expands its ancestors and scrolls it into view. */
  selectSpan(id, scroll = true) {
    this.selected = id;
    if (!id) {
      this.detail.hidden = true;
      this.renderSpanRows(true);
      return;
    }
    const node = this.tree.byId.get(id);
    if (!node) return;
    for (let p = node.parent; p; p = p.parent) this.collapsed.delete(p.id);
    if (this.tab !== 'timeline') this.app.setState({ tab: 'timeline', span: id });
    this.renderSpanRows(true);
    if (scroll && this.timeline) {
      const index = this.rows.findIndex((n) => n.id === id);
      const top = index * ROW;
      if (top < this.timeline.scrollTop || top > this.timeline.scrollTop + this.timeline.clientHeight - ROW) {
        this.timeline.scrollTop = Math.max(0, top - this.timeline.clientHeight / 3);
      }
      this.renderSpanRows(true);
      this.timeline.focus({ preventScroll: true });
    }
    this.renderDetail(node);
  }

  renderDetail(node) {
    const span = node.span;
    const t = this.tree;
    const kv = (list) => h('table', { class: 'kv-table' }, h('tbody', {}, (list || []).map((tag) => h('tr', {}, h('th', {}, tag.key), h('td', {}, cellText(tag.value))))));
    const processTags = node.process?.tags || [];
    const podTag = processTags.find((tag) => POD_TAGS.includes(tag.key)) || (span.tags || []).find((tag) => POD_TAGS.includes(tag.key));
    const startMs = span.startTime / 1000;
    const logsHref = this.logsHref(span);
    const podHref = podTag ? hrefFor({
      view: 'logs', filters: [{ field: POD_FIELDS[podTag.key], value: podTag.value }],
      from: isoTime(startMs - 30_000), to: isoTime(startMs + span.duration / 1000 + 30_000),
    }) : null;
    replace(this.detail,
      h('header', { class: 'flyout-head' },
        h('h3', {}, h('span', { class: 'service-dot', style: { background: serviceColor(node.service) } }), `${node.service}: ${span.operationName}`),
        h('button', { class: 'icon close', 'aria-label': 'Close span (Esc)', onclick: () => this.selectSpan(null) }, '✕')),
      h('dl', { class: 'span-summary' },
        h('dt', {}, 'Duration'), h('dd', { id: 'span-duration' }, formatMicros(span.duration)),
        h('dt', {}, 'Self time'), h('dd', {}, formatMicros(node.self)),
        h('dt', {}, 'Start'), h('dd', {}, `+${formatMicros(span.startTime - t.start)}`),
        h('dt', {}, 'Span ID'), h('dd', { class: 'mono' }, span.spanID)),
      h('div', { class: 'row' },
        h('a', { id: 'span-logs', class: 'button primary', href: logsHref }, 'Logs of this span'),
        podHref ? h('a', { id: 'pod-logs', class: 'button', href: podHref }, `Logs of ${podTag.value} at this time`) : null),
      h('h4', {}, 'Tags'), kv(span.tags),
      span.logs?.length ? [h('h4', {}, `Events (${span.logs.length})`), h('ul', { class: 'events' }, span.logs.map((log) => h('li', {},
        h('span', { class: 'muted' }, `+${formatMicros(log.timestamp - t.start)} `), kv(log.fields))))] : null,
      h('h4', {}, `Process: ${node.service}`), kv(processTags),
      span.references?.length ? [h('h4', {}, 'References'), h('ul', {}, span.references.map((r) => h('li', { class: 'mono' }, `${r.refType} ${r.traceID}/${r.spanID}`)))] : null);
    this.detail.hidden = false;
    this.loadLogFields();
  }

  /**
   * Logs of the trace (or of one span): every data view (`*`), the trace's time ±5 minutes,
   * the trace id (and span id) in whichever of the usual fields the logs have.
   */
  logsHref(span) {
    const t = this.tree;
    const [from, to] = span ? [span.startTime, span.startTime + span.duration] : [t.start, t.end];
    return hrefFor({
      view: 'logs', dv: '*', q: traceLogsQuery(this.trace.traceID, span?.spanID, this.logFields || new Set()),
      from: isoTime(from / 1000 - 300_000), to: isoTime(to / 1000 + 300_000),
    });
  }

  /** Which trace-id fields the logs have, so that the logs query names real fields. */
  async loadLogFields() {
    if (this.logFields) return;
    try {
      const fields = await api.fields('*');
      this.logFields = new Set(fields.fields.map((f) => f.name));
      this.traceLogsLink.href = this.logsHref(null);
      if (this.selected) this.renderDetail(this.tree.byId.get(this.selected));
    } catch {
      this.logFields = new Set();
    }
  }

  // ------------------------------------------------------------------ other views

  renderFlame() {
    const t = this.tree;
    const width = Math.max(600, this.body.clientWidth || 1000);
    const depth = Math.max(...t.order.map((n) => n.depth)) + 1;
    const rowH = 20;
    const x = (us) => ((us - t.start) / Math.max(1, t.duration)) * width;
    const root = svg('svg', { id: 'flame-graph', class: 'flame', width, height: depth * rowH, role: 'img', 'aria-label': 'Flame graph' });
    for (const n of t.order) {
      const w = Math.max(0.5, x(n.end) - x(n.start));
      const g = svg('g', { class: 'flame-span', onclick: () => this.selectSpan(n.id, true) },
        svg('rect', { x: x(n.start), y: n.depth * rowH, width: w, height: rowH - 1, fill: serviceColor(n.service) }),
        w > 40 ? svg('text', { x: x(n.start) + 3, y: n.depth * rowH + 14 }, `${n.span.operationName}`.slice(0, Math.floor(w / 7))) : null);
      g.append(svg('title', {}, `${n.service}: ${n.span.operationName} (${formatMicros(n.span.duration)})`));
      root.append(g);
    }
    replace(this.body, h('div', { class: 'flame-box' }, root));
  }

  /** Calls between services within this trace. */
  renderGraph() {
    const t = this.tree;
    const edges = new Map();
    const level = new Map();
    for (const n of t.order) {
      if (!level.has(n.service)) level.set(n.service, n.parent ? (level.get(n.parent.service) ?? 0) + 1 : 0);
      if (n.parent && n.parent.service !== n.service) {
        const key = `${n.parent.service}\u0000${n.service}`;
        edges.set(key, (edges.get(key) || 0) + 1);
      }
    }
    const columns = new Map();
    for (const [service, l] of level) columns.set(l, [...(columns.get(l) || []), service]);
    const width = Math.max(600, this.body.clientWidth || 900);
    const levels = Math.max(...level.values()) + 1;
    const height = Math.max(200, Math.max(...[...columns.values()].map((c) => c.length)) * 90);
    const at = new Map();
    for (const [l, services] of columns) {
      services.forEach((s, i) => at.set(s, [60 + (l * (width - 160)) / Math.max(1, levels - 1 || 1), ((i + 1) * height) / (services.length + 1)]));
    }
    const root = svg('svg', { id: 'trace-graph', width, height, class: 'map', role: 'img', 'aria-label': 'Services of this trace' },
      svg('defs', {}, svg('marker', { id: 'arrow2', viewBox: '0 0 10 10', refX: 28, refY: 5, markerWidth: 8, markerHeight: 8, orient: 'auto-start-reverse' }, svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow' }))));
    for (const [key, count] of edges) {
      const [a, b] = key.split('\u0000');
      const [x1, y1] = at.get(a);
      const [x2, y2] = at.get(b);
      root.append(svg('line', { class: 'edge', x1, y1, x2, y2, 'marker-end': 'url(#arrow2)' }),
        svg('text', { class: 'edge-label', x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 4, 'text-anchor': 'middle' }, `${count}×`));
    }
    for (const [service, [x, y]] of at) {
      root.append(svg('circle', { class: 'node', cx: x, cy: y, r: 20, fill: serviceColor(service) }),
        svg('text', { class: 'node-label', x, y: y + 36, 'text-anchor': 'middle' }, service));
    }
    replace(this.body, root);
  }

  statistics(tree) {
    const groups = new Map();
    for (const n of tree.order) {
      const key = `${n.service}\u0000${n.span.operationName}`;
      const g = groups.get(key) || { service: n.service, operation: n.span.operationName, count: 0, total: 0, self: 0, min: Infinity, max: 0, errors: 0 };
      g.count += 1;
      g.total += n.span.duration;
      g.self += n.self;
      g.min = Math.min(g.min, n.span.duration);
      g.max = Math.max(g.max, n.span.duration);
      if (n.error) g.errors += 1;
      groups.set(key, g);
    }
    return groups;
  }

  renderStats() {
    const rows = [...this.statistics(this.tree).values()].sort((a, b) => b.self - a.self);
    replace(this.body, h('table', { id: 'trace-stats', class: 'stats-table' },
      h('thead', {}, h('tr', {}, ['Service', 'Operation', 'Count', 'Total', 'Avg', 'Min', 'Max', 'Self total', 'Self %', 'Errors'].map((c) => h('th', {}, c)))),
      h('tbody', {}, rows.map((g) => h('tr', {},
        h('td', {}, g.service), h('td', {}, g.operation), h('td', {}, formatCount(g.count)), h('td', {}, formatMicros(g.total)),
        h('td', {}, formatMicros(g.total / g.count)), h('td', {}, formatMicros(g.min)), h('td', {}, formatMicros(g.max)),
        h('td', {}, formatMicros(g.self)), h('td', {}, `${((g.self / Math.max(1, this.tree.duration)) * 100).toFixed(1)}%`), h('td', {}, g.errors))))));
  }

  renderCompare() {
    const other = buildTree(this.compare);
    const a = this.statistics(this.tree);
    const b = this.statistics(other);
    const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
    const cell = (x, y, format) => {
      const diff = (y ?? 0) - (x ?? 0);
      return h('td', { class: diff > 0 ? 'more' : diff < 0 ? 'less' : '' }, `${format(x ?? 0)} → ${format(y ?? 0)}`);
    };
    replace(this.body,
      h('p', {}, `A: ${this.trace.traceID} (${formatMicros(this.tree.duration)}, ${this.tree.order.length} spans) · B: ${this.compare.traceID} (${formatMicros(other.duration)}, ${other.order.length} spans)`),
      h('table', { id: 'trace-compare', class: 'stats-table' },
        h('thead', {}, h('tr', {}, ['Service', 'Operation', 'Spans A → B', 'Total A → B', 'Self A → B'].map((c) => h('th', {}, c)))),
        h('tbody', {}, keys.map((key) => {
          const [service, operation] = key.split('\u0000');
          const x = a.get(key);
          const y = b.get(key);
          return h('tr', { class: !x ? 'only-b' : !y ? 'only-a' : '' }, h('td', {}, service), h('td', {}, operation),
            cell(x?.count, y?.count, formatCount), cell(x?.total, y?.total, formatMicros), cell(x?.self, y?.self, formatMicros));
        }))));
  }

  shortcut(e) {
    if (e.key === '/') {
      e.preventDefault();
      this.find?.focus();
      return true;
    }
    if (e.key === 'Escape' && this.selected) {
      this.selectSpan(null);
      return true;
    }
    if (e.key === 's' && this.tree) {
      document.getElementById('slowest-span')?.click();
      return true;
    }
    return false;
  }

  stop() {}
}

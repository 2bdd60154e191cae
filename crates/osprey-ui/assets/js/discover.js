// Discover: logs of a data view over a time range, as Kibana's Discover shows them, with the
// histogram, the field sidebar, filter pills, the query bar, the results table (virtualised),
// a document flyout, surrounding documents, live tail, CSV export and saved searches.
import { api } from './api.js';
import { h, replace, debounce, cellText, getPath, flatten, highlighted, download, popover, closePopovers, toast, formatCount } from './dom.js';
import { histogram, shareBar } from './charts.js';
import { QUICK_RANGES, REFRESH_INTERVALS, durationMs, rangeLabel, formatTime, isoTime, resolveTime } from './time.js';
import { pinned, savedSearches, hrefFor } from './state.js';

const ROW_HEIGHT = 30;
const PAGE = 100;
const SAMPLE = 500;
const TRACE_ID_FIELDS = ['trace_id', 'traceID', 'traceId', 'trace.id', 'otelTraceID'];
const SPAN_ID_FIELDS = ['span_id', 'spanID', 'spanId', 'span.id', 'otelSpanID'];
const POD_FIELDS = ['kubernetes.pod_name', 'kubernetes.pod.name', 'k8s.pod.name', 'pod', 'host.name', 'hostname', 'host'];

function filterKey(f) {
  return JSON.stringify([f.field ?? null, f.value ?? null, f.query ?? null]);
}

function filterLabel(f) {
  if (f.query) return f.query;
  if (f.value === undefined || f.value === null) return `${f.field}: exists`;
  return `${f.field}: ${cellText(f.value)}`;
}

/** The trace id a log document carries, if any. */
export function traceIdOf(source) {
  for (const field of TRACE_ID_FIELDS) {
    const value = getPath(source, field);
    if (typeof value === 'string' && /^[0-9a-fA-F]{1,32}$/.test(value)) return value.toLowerCase();
  }
  return null;
}

/** A Lucene query for logs carrying a trace id (and span id), over the fields a view has. */
export function traceLogsQuery(traceId, spanId, fieldNames) {
  const known = (list) => {
    const present = list.filter((f) => fieldNames.has(f));
    return present.length ? present : list.slice(0, 1);
  };
  const forms = [traceId];
  if (traceId.length === 16) forms.push(traceId.padStart(32, '0'));
  if (traceId.length === 32 && traceId.startsWith('0000000000000000')) forms.push(traceId.slice(16));
  const any = (fields, values) => {
    const clauses = fields.flatMap((f) => values.map((v) => `${f}:"${v}"`));
    return clauses.length === 1 ? clauses[0] : `(${clauses.join(' OR ')})`;
  };
  let query = any(known(TRACE_ID_FIELDS), forms);
  if (spanId) query += ` AND ${any(known(SPAN_ID_FIELDS), [spanId])}`;
  return query;
}

export class Discover {
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.views = [];
    this.fields = [];
    this.fieldsIndex = null;
    this.hits = [];
    this.highlight = [];
    this.total = 0;
    this.loadingMore = false;
    this.exhausted = false;
    this.selected = -1;
    this.tail = null;
    this.refreshTimer = null;
    this.abort = null;
    this.build();
  }

  // ------------------------------------------------------------------ layout

  build() {
    this.dataView = h('select', { id: 'data-view', 'aria-label': 'Data view', onchange: () => this.set({ dv: this.dataView.value, cols: [], sort: '' }, true) });
    this.language = h('button', { id: 'query-language', class: 'button small', title: 'Query language (Lucene or KQL)', onclick: () => this.toggleLanguage() });
    this.query = h('input', {
      id: 'query', type: 'search', autocomplete: 'off', spellcheck: 'false', placeholder: 'Search logs (Lucene: level:error AND message:"timed out")',
      'aria-label': 'Query', 'aria-autocomplete': 'list', 'aria-controls': 'query-suggestions',
    });
    this.suggestions = h('ul', { id: 'query-suggestions', class: 'suggestions', role: 'listbox', hidden: true });
    this.queryError = h('div', { id: 'query-error', class: 'query-error', role: 'alert', hidden: true });
    this.timeButton = h('button', { id: 'time-picker', class: 'button', 'aria-haspopup': 'dialog', onclick: () => this.openTimePicker() });
    const refresh = h('button', { id: 'refresh', class: 'button primary', title: 'Refresh (Enter in the query bar)', onclick: () => this.submitQuery() }, 'Refresh');
    this.tailButton = h('button', { id: 'tail', class: 'button', 'aria-pressed': 'false', title: 'Live tail: new lines as they arrive, like kubectl logs -f', onclick: () => this.toggleTail() }, 'Live tail');
    const menu = h('button', { id: 'discover-menu', class: 'button', 'aria-haspopup': 'menu', onclick: (e) => this.openMenu(e.currentTarget) }, 'Save / open ▾');
    this.filterBar = h('div', { id: 'filters', class: 'filter-bar', role: 'list', 'aria-label': 'Filters' });
    this.fieldSearch = h('input', { id: 'field-search', type: 'search', placeholder: 'Search field names', 'aria-label': 'Search field names', oninput: () => this.renderSidebar() });
    this.fieldList = h('div', { id: 'field-list', class: 'field-list' });
    this.hitCount = h('div', { id: 'hit-count', class: 'hit-count', 'aria-live': 'polite' });
    this.histogramBox = h('div', { id: 'histogram', class: 'histogram-box' });
    this.header = h('div', { class: 'results-header', role: 'row' });
    this.spacer = h('div', { class: 'results-spacer' });
    this.scroller = h('div', { id: 'results', class: 'results', tabindex: '0', role: 'grid', 'aria-label': 'Log documents' }, this.spacer);
    this.flyout = h('aside', { id: 'doc-flyout', class: 'flyout', hidden: true, 'aria-label': 'Document' });
    this.scroller.addEventListener('scroll', () => this.renderRows());
    this.scroller.addEventListener('keydown', (e) => this.onResultsKey(e));
    this.query.addEventListener('input', () => { this.onQueryInput(); });
    this.query.addEventListener('keydown', (e) => this.onQueryKey(e));
    this.query.addEventListener('blur', () => setTimeout(() => (this.suggestions.hidden = true), 150));
    window.addEventListener('resize', debounce(() => { this.renderHistogram(); this.renderRows(); }, 100));
    replace(this.root,
      h('div', { class: 'toolbar' },
        this.dataView,
        h('div', { class: 'query-box' }, this.language, h('div', { class: 'query-wrap' }, this.query, this.suggestions), ),
        this.timeButton, refresh, this.tailButton, menu),
      this.queryError,
      h('div', { class: 'filter-row' }, this.filterBar, h('button', { id: 'add-filter', class: 'button small link', onclick: (e) => this.editFilter(e.currentTarget, null) }, '+ Add filter')),
      h('div', { class: 'discover-body' },
        h('nav', { class: 'sidebar', 'aria-label': 'Fields' }, this.fieldSearch, this.fieldList),
        h('section', { class: 'discover-main' },
          h('div', { class: 'main-head' }, this.hitCount, h('button', { id: 'export-csv', class: 'button small', onclick: () => this.exportCsv() }, 'CSV')),
          this.histogramBox, this.header, this.scroller),
        this.flyout));
  }

  set(partial, push = false) {
    this.app.setState(partial, { push });
  }

  // ------------------------------------------------------------------ state → page

  async show(state) {
    const first = !this.state;
    const previous = this.state || {};
    this.state = state;
    if (first || this.views.length === 0) {
      try {
        const answer = await api.dataViews();
        this.views = answer.data_views;
        this.defaultView = answer.default;
      } catch (error) {
        toast(`Cannot list data views: ${error.message}`, 'error');
      }
    }
    const dv = state.dv || this.defaultView || '';
    if (!state.dv && dv) {
      this.state = { ...state, dv };
      this.set({ dv });
      return;
    }
    replace(this.dataView, this.views.map((v) => h('option', { value: v.id, selected: v.id === dv }, v.title)),
      this.views.some((v) => v.id === dv) || !dv ? null : h('option', { value: dv, selected: true }, dv));
    if (!this.views.length && !dv) {
      this.hitCount.textContent = 'No logs yet: ship some to /_bulk (the agent, Fluentd, Filebeat) and they show here.';
      return;
    }
    this.language.textContent = state.lang === 'kql' ? 'KQL' : 'Lucene';
    if (document.activeElement !== this.query || first) this.query.value = state.q;
    this.timeButton.textContent = rangeLabel(state.from, state.to);
    if (this.fieldsIndex !== dv) {
      try {
        const answer = await api.fields(dv);
        this.fields = answer.fields;
        this.timeField = answer.time_field;
        this.fieldsIndex = dv;
      } catch (error) {
        toast(`Cannot read the fields of ${dv}: ${error.message}`, 'error');
        this.fields = [];
      }
    }
    this.renderFilters();
    this.scheduleRefresh();
    const sameSearch = ['dv', 'q', 'lang', 'from', 'to', 'filters', 'sort'].every((k) => JSON.stringify(previous[k]) === JSON.stringify(state[k]));
    if (!first && sameSearch && this.hits.length) {
      this.renderHeader();
      this.renderRows(true);
      this.renderSidebar();
      this.showDoc(state.doc);
      return;
    }
    await this.search();
    this.showDoc(state.doc);
  }

  activeFilters() {
    const pins = pinned.all().map((f) => ({ ...f, pinned: true }));
    const keys = new Set(pins.map(filterKey));
    return [...pins, ...this.state.filters.filter((f) => !keys.has(filterKey(f)))];
  }

  searchBody(extra = {}) {
    return {
      index: this.state.dv || this.defaultView,
      query: this.state.q,
      language: this.state.lang,
      filters: this.activeFilters().map(({ field, value, query, negate, disabled }) => ({ field, value, query, negate: !!negate, disabled: !!disabled })),
      from: this.state.from,
      to: this.state.to,
      size: PAGE,
      sort: this.sortSpec(),
      ...extra,
    };
  }

  sortSpec() {
    if (!this.state.sort) return [];
    const [field, order] = this.state.sort.split(':');
    return [{ field, order: order || 'desc' }];
  }

  async search() {
    this.abort?.abort();
    this.abort = new AbortController();
    this.root.classList.add('loading');
    try {
      const answer = await api.search(this.searchBody(), this.abort.signal);
      this.showError(null);
      this.hits = answer.hits;
      this.highlight = answer.highlight;
      this.total = answer.total.value;
      this.totalRelation = answer.total.relation;
      this.histogramData = answer.histogram;
      this.exhausted = answer.hits.length < PAGE;
      this.selected = -1;
      this.took = answer.took_ms;
      this.renderCount();
      this.renderHistogram();
      this.renderHeader();
      this.scroller.scrollTop = 0;
      this.renderRows(true);
      this.renderSidebar();
    } catch (error) {
      if (error.name === 'AbortError') return;
      this.showError(error);
    } finally {
      this.root.classList.remove('loading');
    }
  }

  async loadMore() {
    if (this.loadingMore || this.exhausted || this.hits.length >= SAMPLE || this.hits.length === 0) return;
    this.loadingMore = true;
    try {
      const last = this.hits[this.hits.length - 1];
      const answer = await api.search(this.searchBody({ search_after: last.sort, histogram: false, size: Math.min(PAGE, SAMPLE - this.hits.length) }));
      this.hits.push(...answer.hits);
      this.exhausted = answer.hits.length === 0;
      this.renderRows(true);
      this.renderSidebar();
    } catch (error) {
      toast(`Cannot load more: ${error.message}`, 'error');
    } finally {
      this.loadingMore = false;
    }
  }

  renderCount() {
    const more = this.totalRelation === 'gte' ? '+' : '';
    replace(this.hitCount, h('strong', {}, `${formatCount(this.total)}${more}`), ` hit${this.total === 1 ? '' : 's'}`,
      this.took !== undefined ? h('span', { class: 'muted' }, ` · ${Math.round(this.took)} ms`) : null,
      this.tail ? h('span', { class: 'tailing' }, ' · live') : null);
  }

  renderHistogram() {
    if (!this.histogramData) {
      replace(this.histogramBox);
      return;
    }
    histogram(this.histogramBox, this.histogramData, {
      onZoom: (from, to) => this.set({ from: isoTime(from), to: isoTime(to) }, true),
    });
  }

  /** Shows what is wrong with the search; a query error gets a caret under its column. */
  showError(error, text = this.state.q) {
    if (!error) {
      this.queryError.hidden = true;
      this.query.classList.remove('invalid');
      return;
    }
    this.queryError.hidden = false;
    const label = error.column ? `Column ${error.column}: ` : error.field && error.field !== 'query' ? `${error.field}: ` : '';
    replace(this.queryError, h('strong', {}, label), error.message,
      error.column ? h('pre', { class: 'caret' }, `${text}\n${' '.repeat(Math.max(0, error.column - 1))}^`) : null);
    this.query.classList.toggle('invalid', !!error.column);
  }

  // ------------------------------------------------------------------ query bar

  toggleLanguage() {
    this.set({ lang: this.state.lang === 'kql' ? 'lucene' : 'kql' }, true);
  }

  submitQuery() {
    this.suggestions.hidden = true;
    if (this.query.value === this.state.q) this.search();
    else this.set({ q: this.query.value }, true);
  }

  onQueryInput() {
    this.validate();
    this.complete();
  }

  validate = debounce(async () => {
    const text = this.query.value;
    try {
      const answer = await api.validate(text, this.state.lang);
      if (text !== this.query.value) return;
      this.showError(answer.valid ? null : { message: answer.message, column: answer.column }, text);
    } catch {
      // The search itself reports what is wrong.
    }
  }, 200);

  complete = debounce(async () => {
    const text = this.query.value.slice(0, this.query.selectionStart ?? this.query.value.length);
    const valueMatch = /([\w.@-]+):("?)([^\s()"]*)$/.exec(text);
    let items = [];
    let replaceFrom = 0;
    if (valueMatch) {
      const [, field, , prefix] = valueMatch;
      replaceFrom = text.length - prefix.length - valueMatch[2].length;
      try {
        const answer = await api.values({ index: this.state.dv, field, prefix, from: this.state.from, to: this.state.to });
        items = answer.values.map((v) => {
          const value = cellText(v.value);
          const quoted = /^[\w.@-]+$/.test(value) ? value : `"${value.replace(/(["\\])/g, '\\$1')}"`;
          return { label: value, detail: formatCount(v.count), insert: quoted };
        });
      } catch {
        items = [];
      }
    } else {
      const fieldMatch = /([\w.@-]+)$/.exec(text);
      if (fieldMatch) {
        const partial = fieldMatch[1].toLowerCase();
        replaceFrom = text.length - fieldMatch[1].length;
        items = this.fields
          .filter((f) => f.name.toLowerCase().includes(partial) && f.name.toLowerCase() !== partial)
          .sort((a, b) => (b.name.toLowerCase().startsWith(partial) - a.name.toLowerCase().startsWith(partial)) || a.name.localeCompare(b.name))
          .slice(0, 12)
          .map((f) => ({ label: f.name, detail: f.type, insert: `${f.name}:` }));
      }
    }
    this.showSuggestions(items, replaceFrom, text.length);
  }, 120);

  showSuggestions(items, from, to) {
    this.suggestionState = { items, from, to, active: -1 };
    if (items.length === 0 || document.activeElement !== this.query) {
      this.suggestions.hidden = true;
      return;
    }
    replace(this.suggestions, items.map((item, i) => h('li', {
      role: 'option', id: `suggestion-${i}`, class: 'suggestion',
      onmousedown: (e) => { e.preventDefault(); this.accept(i); },
    }, h('span', {}, item.label), h('span', { class: 'muted' }, item.detail))));
    this.suggestions.hidden = false;
  }

  accept(i) {
    const { items, from, to } = this.suggestionState;
    const item = items[i];
    const text = this.query.value;
    const inserted = item.insert + (item.insert.endsWith(':') ? '' : ' ');
    this.query.value = text.slice(0, from) + inserted + text.slice(to);
    const caret = from + inserted.length;
    this.query.setSelectionRange(caret, caret);
    this.suggestions.hidden = true;
    this.query.focus();
    this.onQueryInput();
  }

  onQueryKey(e) {
    const s = this.suggestionState;
    const open = !this.suggestions.hidden && s && s.items.length;
    if (open && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
      e.preventDefault();
      s.active = (s.active + (e.key === 'ArrowDown' ? 1 : -1) + s.items.length) % s.items.length;
      [...this.suggestions.children].forEach((li, i) => li.setAttribute('aria-selected', i === s.active));
      this.query.setAttribute('aria-activedescendant', `suggestion-${s.active}`);
    } else if (open && (e.key === 'Tab' || (e.key === 'Enter' && s.active >= 0))) {
      e.preventDefault();
      this.accept(Math.max(0, s.active));
    } else if (e.key === 'Enter') {
      e.preventDefault();
      this.submitQuery();
    } else if (e.key === 'Escape') {
      this.suggestions.hidden = true;
    }
  }

  // ------------------------------------------------------------------ time

  openTimePicker() {
    const fromInput = h('input', { id: 'time-from', value: this.state.from, 'aria-label': 'Start (date math like now-15m, or a date)' });
    const toInput = h('input', { id: 'time-to', value: this.state.to, 'aria-label': 'End' });
    const refresh = h('select', { id: 'refresh-interval', 'aria-label': 'Auto-refresh' },
      REFRESH_INTERVALS.map(([label, value]) => h('option', { value, selected: value === this.state.refresh }, label)));
    const apply = () => {
      const bad = [fromInput, toInput].find((i) => resolveTime(i.value.trim()) === null);
      if (bad) {
        bad.classList.add('invalid');
        bad.focus();
        return;
      }
      box.close();
      this.set({ from: fromInput.value.trim(), to: toInput.value.trim(), refresh: refresh.value }, true);
    };
    const box = popover(this.timeButton, h('div', { class: 'time-picker' },
      h('div', { class: 'quick-ranges' }, h('h4', {}, 'Commonly used'),
        QUICK_RANGES.map(([label, from, to]) => h('button', { class: 'link', onclick: () => { box.close(); this.set({ from, to }, true); } }, label))),
      h('div', { class: 'absolute-range' }, h('h4', {}, 'Start and end'),
        h('label', {}, 'Start ', fromInput), h('label', {}, 'End ', toInput),
        h('p', { class: 'muted' }, 'Date math (now-2h, now/d) or a date (2026-11-27T10:00:00Z).'),
        h('label', {}, 'Auto-refresh ', refresh),
        h('button', { id: 'time-apply', class: 'button primary', onclick: apply }, 'Apply'))));
    box.addEventListener('keydown', (e) => { if (e.key === 'Enter' && e.target.tagName === 'INPUT') apply(); });
  }

  scheduleRefresh() {
    clearInterval(this.refreshTimer);
    const every = durationMs(this.state.refresh);
    if (every > 0) this.refreshTimer = setInterval(() => this.search(), every);
  }

  // ------------------------------------------------------------------ filters

  renderFilters() {
    const filters = this.activeFilters();
    replace(this.filterBar, filters.map((f) => {
      const pill = h('button', {
        class: `filter-pill${f.negate ? ' negated' : ''}${f.disabled ? ' disabled' : ''}${f.pinned ? ' pinned' : ''}`,
        role: 'listitem', title: `${f.negate ? 'NOT ' : ''}${filterLabel(f)}${f.disabled ? ' (disabled)' : ''}${f.pinned ? ' (pinned)' : ''}`,
        dataset: { filter: filterLabel(f) },
        onclick: (e) => this.filterMenu(e.currentTarget, f),
      }, f.pinned ? h('span', { class: 'pin', 'aria-label': 'pinned' }) : null, f.negate ? h('span', { class: 'not' }, 'NOT ') : null, filterLabel(f));
      return pill;
    }));
  }

  /** Saves a changed filter where it lives: pinned in localStorage, others in the URL. */
  updateFilter(old, changed) {
    const key = filterKey(old);
    if (old.pinned) {
      const list = pinned.all().map((f) => (filterKey(f) === key ? changed : f)).filter(Boolean);
      pinned.set(list.map(({ pinned: _, ...rest }) => rest));
      this.renderFilters();
      this.search();
      return;
    }
    const list = this.state.filters.map((f) => (filterKey(f) === key ? changed : f)).filter(Boolean);
    this.set({ filters: list.map(({ pinned: _, ...rest }) => rest) }, true);
  }

  addFilter(filter) {
    const key = filterKey(filter);
    const existing = this.activeFilters().find((f) => filterKey(f) === key);
    if (existing) {
      this.updateFilter(existing, { ...existing, negate: filter.negate, disabled: false });
      return;
    }
    this.set({ filters: [...this.state.filters, filter] }, true);
  }

  filterMenu(anchor, f) {
    const act = (fn) => () => { box.close(); fn(); };
    const box = popover(anchor, h('div', { class: 'menu', role: 'menu' },
      h('button', { role: 'menuitem', onclick: act(() => this.togglePin(f)) }, f.pinned ? 'Unpin' : 'Pin across data views'),
      h('button', { role: 'menuitem', onclick: act(() => this.editFilter(anchor, f)) }, 'Edit filter'),
      h('button', { role: 'menuitem', onclick: act(() => this.updateFilter(f, { ...f, negate: !f.negate })) }, f.negate ? 'Include results' : 'Exclude results'),
      h('button', { role: 'menuitem', onclick: act(() => this.updateFilter(f, { ...f, disabled: !f.disabled })) }, f.disabled ? 'Re-enable' : 'Temporarily disable'),
      h('button', { role: 'menuitem', onclick: act(() => this.updateFilter(f, null)) }, 'Delete')));
  }

  togglePin(f) {
    const { pinned: isPinned, ...plain } = f;
    if (isPinned) {
      pinned.set(pinned.all().filter((p) => filterKey(p) !== filterKey(f)));
      this.set({ filters: [...this.state.filters, plain] }, true);
    } else {
      pinned.set([...pinned.all(), plain]);
      this.set({ filters: this.state.filters.filter((p) => filterKey(p) !== filterKey(f)) }, true);
    }
  }

  editFilter(anchor, f) {
    const field = h('select', { id: 'filter-field', 'aria-label': 'Field' },
      h('option', { value: '' }, '(custom query)'),
      this.fields.map((x) => h('option', { value: x.name, selected: f?.field === x.name }, x.name)));
    const value = h('input', { id: 'filter-value', 'aria-label': 'Value (empty: the field exists)', value: f?.query ?? (f?.value !== undefined && f?.value !== null ? cellText(f.value) : '') });
    const negate = h('input', { type: 'checkbox', id: 'filter-negate', checked: !!f?.negate });
    const save = () => {
      const text = value.value.trim();
      let changed;
      if (!field.value) {
        if (!text) return value.focus();
        changed = { query: text, negate: negate.checked };
      } else {
        const meta = this.fields.find((x) => x.name === field.value);
        const typed = text === '' ? null : meta && ['long', 'float'].includes(meta.type) && !Number.isNaN(Number(text)) ? Number(text) : text;
        changed = { field: field.value, value: typed, negate: negate.checked };
      }
      box.close();
      if (f) this.updateFilter(f, { ...changed, disabled: f.disabled, pinned: f.pinned });
      else this.addFilter(changed);
    };
    const box = popover(anchor, h('form', { class: 'filter-editor', onsubmit: (e) => { e.preventDefault(); save(); } },
      h('label', {}, 'Field ', field), h('label', {}, 'Value ', value),
      h('label', { class: 'inline' }, negate, ' Exclude'),
      h('button', { class: 'button primary', type: 'submit' }, f ? 'Save' : 'Add filter')));
  }

  // ------------------------------------------------------------------ sidebar

  renderSidebar() {
    const search = this.fieldSearch.value.toLowerCase();
    const cols = new Set(this.state.cols);
    const present = new Set();
    for (const hit of this.hits.slice(0, SAMPLE)) for (const [path] of flatten(hit._source)) present.add(path);
    const fields = this.fields.filter((f) => f.name.toLowerCase().includes(search));
    const item = (f) => h('li', { class: 'field' },
      h('button', { class: 'field-name', dataset: { field: f.name }, title: `${f.name} (${f.type})`, onclick: (e) => this.fieldDetails(e.currentTarget, f) },
        h('span', { class: `type type-${f.type}`, 'aria-label': f.type }, typeIcon(f.type)), f.name),
      h('button', { class: 'icon', title: cols.has(f.name) ? 'Remove column' : 'Add column', 'aria-label': `${cols.has(f.name) ? 'Remove' : 'Add'} column ${f.name}`, onclick: () => this.toggleColumn(f.name) }, cols.has(f.name) ? '−' : '+'));
    const selected = fields.filter((f) => cols.has(f.name));
    const available = fields.filter((f) => !cols.has(f.name) && present.has(f.name));
    const empty = fields.filter((f) => !cols.has(f.name) && !present.has(f.name));
    replace(this.fieldList,
      selected.length ? [h('h4', {}, 'Selected fields'), h('ul', {}, selected.map(item))] : null,
      h('h4', {}, `Available fields `, h('span', { class: 'muted' }, available.length)), h('ul', {}, available.map(item)),
      empty.length ? h('details', {}, h('summary', {}, `Empty fields (${empty.length})`), h('ul', {}, empty.map(item))) : null);
  }

  /** The top 5 values of a field in the loaded sample, each with + and −. */
  fieldDetails(anchor, f) {
    const counts = new Map();
    let seen = 0;
    for (const hit of this.hits) {
      const value = getPath(hit._source, f.name);
      if (value === undefined) continue;
      seen += 1;
      for (const v of Array.isArray(value) ? value : [value]) {
        const key = JSON.stringify(v);
        counts.set(key, (counts.get(key) || 0) + 1);
      }
    }
    const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5);
    popover(anchor, h('div', { class: 'field-details', 'aria-label': `Top values of ${f.name}` },
      h('h4', {}, f.name, h('span', { class: 'muted' }, ` ${f.type}`)),
      h('p', { class: 'muted' }, `Top 5 values in ${formatCount(seen)} of ${formatCount(this.hits.length)} documents loaded`),
      top.length === 0 ? h('p', {}, 'No value in the loaded documents.') : h('ul', { class: 'top-values' }, top.map(([key, count]) => {
        const value = JSON.parse(key);
        return h('li', { class: 'top-value', dataset: { value: cellText(value) } },
          h('div', { class: 'top-value-row' },
            h('span', { class: 'value' }, cellText(value)),
            h('span', { class: 'pct' }, `${((count / Math.max(1, seen)) * 100).toFixed(1)}%`),
            h('button', { class: 'icon plus', title: `Filter for ${f.name}: ${cellText(value)}`, 'aria-label': `Filter for value ${cellText(value)}`, onclick: () => { closePopovers(); this.addFilter({ field: f.name, value, negate: false }); } }, '+'),
            h('button', { class: 'icon minus', title: `Filter out ${f.name}: ${cellText(value)}`, 'aria-label': `Filter out value ${cellText(value)}`, onclick: () => { closePopovers(); this.addFilter({ field: f.name, value, negate: true }); } }, '−')),
          shareBar(count / Math.max(1, seen)));
      })),
      h('div', { class: 'row' },
        h('button', { class: 'button small', onclick: () => { closePopovers(); this.toggleColumn(f.name); } }, this.state.cols.includes(f.name) ? 'Remove column' : 'Add column'),
        h('button', { class: 'button small', onclick: () => { closePopovers(); this.addFilter({ field: f.name, value: null, negate: false }); } }, 'Exists'))));
  }

  toggleColumn(name) {
    const cols = this.state.cols.includes(name) ? this.state.cols.filter((c) => c !== name) : [...this.state.cols, name];
    this.set({ cols }, true);
  }

  // ------------------------------------------------------------------ results

  columns() {
    return this.state.cols.length ? this.state.cols : ['_document'];
  }

  renderHeader() {
    const time = this.state.sort ? this.state.sort.split(':') : [this.timeField, 'desc'];
    const sortButton = (field, label) => {
      const active = time[0] === field;
      const next = active && time[1] === 'desc' ? 'asc' : 'desc';
      return h('button', { class: `col-head${active ? ' sorted' : ''}`, title: `Sort by ${label}`, onclick: () => this.set({ sort: `${field}:${next}` }, true) },
        label, active ? (time[1] === 'asc' ? ' ▲' : ' ▼') : '');
    };
    replace(this.header, h('span', { class: 'cell expand-cell' }),
      this.timeField ? h('span', { class: 'cell time-cell', role: 'columnheader' }, sortButton(this.timeField, 'Time')) : null,
      this.columns().map((c) => h('span', { class: `cell ${c === '_document' ? 'doc-cell' : 'col-cell'}`, role: 'columnheader' },
        c === '_document' ? 'Document' : (this.fields.find((f) => f.name === c)?.aggregatable ? sortButton(c, c) : c))));
  }

  renderRows(force = false) {
    const total = this.hits.length;
    this.spacer.style.height = `${total * ROW_HEIGHT + (this.exhausted || total >= SAMPLE ? 0 : ROW_HEIGHT)}px`;
    const top = this.scroller.scrollTop;
    const height = this.scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - 5);
    const last = Math.min(total, Math.ceil((top + height) / ROW_HEIGHT) + 5);
    if (!force && this.rendered && this.rendered[0] === first && this.rendered[1] === last) return;
    this.rendered = [first, last];
    const rows = [];
    for (let i = first; i < last; i++) rows.push(this.row(this.hits[i], i));
    if (total === 0) rows.push(h('div', { class: 'no-results' }, 'No results match your search criteria. Widen the time range or remove a filter.'));
    else if (last === total && (this.exhausted || total >= SAMPLE)) {
      rows.push(h('div', { class: 'end-of-results', style: { top: `${total * ROW_HEIGHT}px` } },
        total >= SAMPLE ? `These are the first ${SAMPLE} documents: refine the search to see others.` : ''));
    }
    replace(this.spacer, rows);
    if (last >= total - 10) this.loadMore();
  }

  row(hit, i) {
    const source = hit._source || {};
    const time = this.timeField ? getPath(source, this.timeField) : undefined;
    const cells = this.columns().map((c) => {
      if (c === '_document') {
        return h('span', { class: 'cell doc-cell' }, flatten(source).filter(([k]) => k !== this.timeField).slice(0, 40).map(([k, v]) =>
          h('span', { class: 'kv' }, h('span', { class: 'k' }, `${k}: `), h('span', { class: 'v' }, highlighted(cellText(v), this.highlight)))));
      }
      return h('span', { class: 'cell col-cell' }, highlighted(cellText(getPath(source, c)), this.highlight));
    });
    return h('div', {
      class: `row${i === this.selected ? ' selected' : ''}${hit._id === this.state.doc ? ' expanded' : ''}`, role: 'row', style: { top: `${i * ROW_HEIGHT}px` },
      dataset: { index: i, id: hit._id }, onclick: () => this.openDoc(i),
    },
    h('span', { class: 'cell expand-cell' }, h('button', { class: 'icon expand', 'aria-label': 'Expand document', tabindex: '-1' }, '⤢')),
    this.timeField ? h('span', { class: 'cell time-cell' }, formatTime(typeof time === 'number' ? time : Date.parse(time))) : null,
    cells);
  }

  onResultsKey(e) {
    if (e.key === 'j' || e.key === 'ArrowDown') this.select(this.selected + 1);
    else if (e.key === 'k' || e.key === 'ArrowUp') this.select(this.selected - 1);
    else if ((e.key === 'Enter' || e.key === 'o') && this.selected >= 0) this.openDoc(this.selected);
    else return;
    e.preventDefault();
  }

  select(i) {
    if (this.hits.length === 0) return;
    this.selected = Math.max(0, Math.min(this.hits.length - 1, i));
    const top = this.selected * ROW_HEIGHT;
    if (top < this.scroller.scrollTop) this.scroller.scrollTop = top;
    else if (top + ROW_HEIGHT > this.scroller.scrollTop + this.scroller.clientHeight) this.scroller.scrollTop = top + ROW_HEIGHT - this.scroller.clientHeight;
    this.renderRows(true);
  }

  openDoc(i) {
    this.selected = i;
    this.set({ doc: this.hits[i]._id }, true);
  }

  // ------------------------------------------------------------------ document flyout

  showDoc(id) {
    if (!id) {
      this.flyout.hidden = true;
      this.renderRows(true);
      return;
    }
    const hit = this.hits.find((x) => x._id === id) || this.docCache?.[id];
    if (!hit) {
      this.flyout.hidden = true;
      return;
    }
    this.docCache = { [id]: hit };
    this.renderRows(true);
    const source = hit._source || {};
    const traceId = traceIdOf(source);
    const tabs = h('div', { class: 'tabs', role: 'tablist' });
    const body = h('div', { class: 'flyout-body' });
    const show = (tab) => {
      for (const b of tabs.children) b.setAttribute('aria-selected', b.dataset.tab === tab);
      if (tab === 'json') replace(body, h('pre', { class: 'json', id: 'doc-json' }, JSON.stringify(source, null, 2)));
      else if (tab === 'surrounding') this.renderSurrounding(body, hit);
      else replace(body, this.docTable(source));
    };
    for (const [tab, label] of [['table', 'Table'], ['json', 'JSON'], ['surrounding', 'Surrounding documents']]) {
      tabs.append(h('button', { role: 'tab', dataset: { tab }, onclick: () => show(tab) }, label));
    }
    replace(this.flyout,
      h('header', { class: 'flyout-head' },
        h('h3', {}, 'Document'),
        h('span', { class: 'muted' }, `${hit._index} / ${hit._id}`),
        traceId ? h('a', { id: 'view-trace', class: 'button primary', href: hrefFor({ view: 'trace', id: traceId }) }, 'View trace') : null,
        h('button', { class: 'icon close', 'aria-label': 'Close document (Esc)', onclick: () => this.set({ doc: '' }, true) }, '✕')),
      tabs, body);
    this.flyout.hidden = false;
    show('table');
  }

  docTable(source) {
    return h('table', { class: 'doc-table', id: 'doc-table' }, h('tbody', {}, flatten(source).map(([field, value]) => h('tr', { dataset: { field } },
      h('th', {}, field),
      h('td', { class: 'doc-actions' },
        h('button', { class: 'icon plus', title: 'Filter for value', 'aria-label': `Filter for ${field}`, onclick: () => this.addFilter({ field, value, negate: false }) }, '+'),
        h('button', { class: 'icon minus', title: 'Filter out value', 'aria-label': `Filter out ${field}`, onclick: () => this.addFilter({ field, value, negate: true }) }, '−'),
        h('button', { class: 'icon', title: 'Toggle column', 'aria-label': `Toggle column ${field}`, onclick: () => this.toggleColumn(field) }, '▥')),
      h('td', { class: 'doc-value' }, highlighted(cellText(value), this.highlight))))));
  }

  async renderSurrounding(body, hit) {
    const source = hit._source || {};
    const podField = POD_FIELDS.find((f) => typeof getPath(source, f) === 'string');
    const time = this.timeField && getPath(source, this.timeField);
    if (!time) {
      replace(body, h('p', {}, 'This document has no time, so it has no neighbours.'));
      return;
    }
    replace(body, h('p', { class: 'muted' }, 'Loading…'));
    const ms = Date.parse(time);
    const filters = podField ? [{ field: podField, value: getPath(source, podField) }] : [];
    const around = async (order) => {
      const answer = await api.search({
        index: this.state.dv, filters, size: 5, histogram: false,
        sort: [{ field: this.timeField, order }], search_after: [ms],
      });
      return answer.hits;
    };
    try {
      const [before, after] = await Promise.all([around('desc'), around('asc')]);
      const line = (x, anchor) => h('li', { class: anchor ? 'anchor' : '' },
        h('span', { class: 'time-cell' }, formatTime(Date.parse(getPath(x._source, this.timeField)))), ' ',
        cellText(getPath(x._source, 'message') ?? getPath(x._source, 'log') ?? JSON.stringify(x._source)));
      replace(body,
        h('p', { class: 'muted' }, podField ? `Lines just before and after in ${podField} = ${getPath(source, podField)}` : 'Lines just before and after (no pod field in this document)'),
        h('ol', { class: 'surrounding', id: 'surrounding' }, [...before].reverse().map((x) => line(x, false)), line(hit, true), after.map((x) => line(x, false))),
        podField ? h('a', { class: 'button small', href: hrefFor({ view: 'logs', dv: this.state.dv, filters: [{ field: podField, value: getPath(source, podField) }], from: isoTime(ms - 60_000), to: isoTime(ms + 60_000), sort: `${this.timeField}:asc` }) }, 'Open in Discover (±1 minute)') : null);
    } catch (error) {
      replace(body, h('p', { class: 'error' }, error.message));
    }
  }

  // ------------------------------------------------------------------ live tail, CSV, saved searches

  toggleTail() {
    if (this.tail) {
      clearInterval(this.tail);
      this.tail = null;
      this.tailButton.setAttribute('aria-pressed', 'false');
      this.renderCount();
      return;
    }
    this.tailButton.setAttribute('aria-pressed', 'true');
    const seen = new Set(this.hits.map((x) => x._id));
    let newest = this.hits.length && this.timeField ? Date.parse(getPath(this.hits[0]._source, this.timeField)) : Date.now() - 60_000;
    const poll = async () => {
      try {
        // Lines can arrive after lines with later times (shippers batch): look back 30 s and
        // show only the ids not seen yet.
        const answer = await api.search(this.searchBody({ from: newest - 30_000, to: 'now', histogram: false, size: 500, sort: [{ field: this.timeField, order: 'asc' }] }));
        const fresh = answer.hits.filter((x) => !seen.has(x._id));
        for (const x of fresh) seen.add(x._id);
        if (fresh.length) {
          newest = Math.max(newest, ...fresh.map((x) => Date.parse(getPath(x._source, this.timeField))));
          this.hits.unshift(...fresh.reverse());
          this.hits.length = Math.min(this.hits.length, 5000);
          this.total += fresh.length;
          this.renderCount();
          this.renderRows(true);
        }
      } catch (error) {
        toast(`Live tail: ${error.message}`, 'error');
      }
    };
    this.tail = setInterval(poll, 2000);
    this.renderCount();
    poll();
  }

  async exportCsv() {
    const cols = this.state.cols.length ? this.state.cols : ['_source'];
    const rows = [];
    let after;
    toast('Exporting up to 10,000 documents…');
    while (rows.length < 10_000) {
      const answer = await api.search(this.searchBody({ size: 500, histogram: false, search_after: after }));
      rows.push(...answer.hits);
      if (answer.hits.length < 500) break;
      after = answer.hits[answer.hits.length - 1].sort;
    }
    const quote = (v) => `"${cellText(v).replace(/"/g, '""')}"`;
    const header = [this.timeField, ...cols].filter(Boolean);
    const lines = [header.map(quote).join(',')];
    for (const x of rows) {
      lines.push(header.map((c) => quote(c === '_source' ? x._source : getPath(x._source, c))).join(','));
    }
    download(`${(this.state.dv || 'logs').replace(/[^\w-]+/g, '_')}.csv`, 'text/csv', `${lines.join('\r\n')}\r\n`);
  }

  openMenu(anchor) {
    const name = h('input', { id: 'saved-name', placeholder: 'Name of this search', 'aria-label': 'Name of this search' });
    const save = (e) => {
      e.preventDefault();
      if (!name.value.trim()) return name.focus();
      const { dv, q, lang, filters, cols, sort, from, to } = this.state;
      savedSearches.put(name.value.trim(), { dv, q, lang, filters, cols, sort, from, to });
      box.close();
      toast(`Saved “${name.value.trim()}”`);
    };
    const list = savedSearches.all();
    const box = popover(anchor, h('div', { class: 'saved' },
      h('form', { class: 'row', onsubmit: save }, name, h('button', { class: 'button primary', type: 'submit' }, 'Save')),
      h('h4', {}, 'Saved searches'),
      list.length === 0 ? h('p', { class: 'muted' }, 'None yet.') : h('ul', {}, list.map((s) => h('li', { class: 'row' },
        h('a', { href: hrefFor({ view: 'logs', ...s.search }), onclick: () => box.close() }, s.name),
        h('button', { class: 'icon', 'aria-label': `Delete ${s.name}`, onclick: () => { savedSearches.remove(s.name); box.close(); } }, '✕'))))));
  }

  stop() {
    clearInterval(this.refreshTimer);
    if (this.tail) this.toggleTail();
  }

  shortcut(e) {
    if (e.key === '/') {
      e.preventDefault();
      this.query.focus();
      this.query.select();
      return true;
    }
    if (e.key === 'Escape' && this.state.doc) {
      this.set({ doc: '' }, true);
      return true;
    }
    if (e.key === 'f') {
      e.preventDefault();
      this.fieldSearch.focus();
      return true;
    }
    if (e.key === 'r') {
      this.search();
      return true;
    }
    return false;
  }
}

function typeIcon(type) {
  return { text: 't', keyword: 'k', long: '#', float: '#', boolean: 'b', date: 'd' }[type] ?? '?';
}

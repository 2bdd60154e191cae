// The whole state of a view lives in the URL (shareable, bookmarkable, back/forward work);
// pinned filters, saved searches and the theme live in localStorage.

const DEFAULTS = {
  view: 'logs',
  // Discover
  dv: '',
  q: '',
  lang: 'lucene',
  from: 'now-15m',
  to: 'now',
  refresh: '',
  filters: [],
  cols: [],
  sort: '',
  doc: '',
  // Trace search
  service: '',
  operation: '',
  tags: '',
  lookback: '1h',
  start: '',
  end: '',
  minDuration: '',
  maxDuration: '',
  limit: '20',
  // Trace view
  id: '',
  span: '',
  tab: 'timeline',
  compare: '',
};

const JSON_KEYS = new Set(['filters', 'cols']);

export function readUrl() {
  const params = new URLSearchParams(location.search);
  const state = structuredClone(DEFAULTS);
  for (const [key, fallback] of Object.entries(DEFAULTS)) {
    const raw = params.get(key);
    if (raw === null) continue;
    if (JSON_KEYS.has(key)) {
      try {
        const parsed = JSON.parse(raw);
        state[key] = Array.isArray(parsed) ? parsed : fallback;
      } catch {
        state[key] = fallback;
      }
    } else {
      state[key] = raw;
    }
  }
  return state;
}

/** Writes the state to the URL, leaving out defaults (short, readable links). */
export function writeUrl(state, { push = false } = {}) {
  const params = new URLSearchParams();
  for (const [key, fallback] of Object.entries(DEFAULTS)) {
    const value = state[key];
    if (value === undefined) continue;
    const text = JSON_KEYS.has(key) ? JSON.stringify(value) : String(value);
    const fallbackText = JSON_KEYS.has(key) ? JSON.stringify(fallback) : String(fallback);
    if (text !== fallbackText) params.set(key, text);
  }
  const query = params.toString();
  const url = `${location.pathname}${query ? `?${query}` : ''}`;
  if (url === `${location.pathname}${location.search}`) return;
  if (push) history.pushState(null, '', url);
  else history.replaceState(null, '', url);
}

/** A link to a view with some state (others at their defaults). */
export function hrefFor(partial) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(partial)) {
    if (value === undefined || value === '' || value === null) continue;
    params.set(key, JSON_KEYS.has(key) ? JSON.stringify(value) : String(value));
  }
  return `/?${params}`;
}

function load(key, fallback) {
  try {
    return JSON.parse(localStorage.getItem(key)) ?? fallback;
  } catch {
    return fallback;
  }
}

function save(key, value) {
  localStorage.setItem(key, JSON.stringify(value));
}

export const pinned = {
  all: () => load('osprey.pinnedFilters', []),
  set: (filters) => save('osprey.pinnedFilters', filters),
};

export const savedSearches = {
  all: () => load('osprey.savedSearches', []),
  put(name, search) {
    const list = savedSearches.all().filter((s) => s.name !== name);
    list.push({ name, search, saved: new Date().toISOString() });
    list.sort((a, b) => a.name.localeCompare(b.name));
    save('osprey.savedSearches', list);
  },
  remove(name) {
    save('osprey.savedSearches', savedSearches.all().filter((s) => s.name !== name));
  },
};

export const theme = {
  get: () => localStorage.getItem('osprey.theme') || (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'),
  set(value) {
    localStorage.setItem('osprey.theme', value);
    document.documentElement.dataset.theme = value;
  },
};

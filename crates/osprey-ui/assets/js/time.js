// Time ranges as Kibana writes them: date math (`now-15m`, `now/d`) or ISO dates.

export const QUICK_RANGES = [
  ['Last 5 minutes', 'now-5m', 'now'],
  ['Last 15 minutes', 'now-15m', 'now'],
  ['Last 30 minutes', 'now-30m', 'now'],
  ['Last 1 hour', 'now-1h', 'now'],
  ['Last 4 hours', 'now-4h', 'now'],
  ['Last 24 hours', 'now-24h', 'now'],
  ['Last 7 days', 'now-7d', 'now'],
  ['Last 30 days', 'now-30d', 'now'],
  ['Today', 'now/d', 'now/d'],
  ['Yesterday', 'now-1d/d', 'now-1d/d'],
  ['Last 1 year', 'now-1y', 'now'],
];

export const REFRESH_INTERVALS = [
  ['Off', ''],
  ['5 seconds', '5s'],
  ['10 seconds', '10s'],
  ['30 seconds', '30s'],
  ['1 minute', '1m'],
  ['5 minutes', '5m'],
];

const UNITS = { s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5, M: 2592e6, y: 31536e6 };

/** `5s` → 5000. */
export function durationMs(text) {
  const match = /^(\d+)([smhdwMy])$/.exec(text || '');
  return match ? Number(match[1]) * UNITS[match[2]] : 0;
}

/** Evaluates date math client-side, for labels and zoom (the server evaluates it for searches). */
export function resolveTime(text, roundUp = false, now = Date.now()) {
  if (/^\d+$/.test(text)) return Number(text);
  if (!text.startsWith('now')) {
    const t = Date.parse(text);
    return Number.isNaN(t) ? null : t;
  }
  let t = now;
  let rest = text.slice(3);
  while (rest) {
    const match = /^([+-])(\d+)([smhdwMy])|^\/([smhdwMy])/.exec(rest);
    if (!match) return null;
    if (match[4]) {
      const unit = UNITS[match[4]];
      t = roundUp ? Math.floor(t / unit) * unit + unit - 1 : Math.floor(t / unit) * unit;
    } else {
      t += (match[1] === '-' ? -1 : 1) * Number(match[2]) * UNITS[match[3]];
    }
    rest = rest.slice(match[0].length);
  }
  return t;
}

export function rangeLabel(from, to) {
  const quick = QUICK_RANGES.find(([, f, t]) => f === from && t === to);
  if (quick) return quick[0];
  return `${formatTime(resolveTime(from))} → ${to === 'now' ? 'now' : formatTime(resolveTime(to, true))}`;
}

/** `2026-11-27 13:04:05.123` in local time, as Kibana shows dates. */
export function formatTime(ms, withMillis = true) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '';
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  const base = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withMillis ? `${base}.${pad(d.getMilliseconds(), 3)}` : base;
}

/** An ISO date for an absolute range bound. */
export function isoTime(ms) {
  return new Date(ms).toISOString();
}

export function formatInterval(ms) {
  for (const [unit, size] of [['d', 864e5], ['h', 36e5], ['m', 6e4], ['s', 1e3]]) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

// SVG charts: the hit-count histogram (drag to zoom) and the trace scatter plot.
import { svg, h, formatCount, formatMicros } from './dom.js';
import { formatTime, formatInterval } from './time.js';

function niceTicks(max, count = 4) {
  if (max <= 0) return [0];
  const step = 10 ** Math.floor(Math.log10(max / count));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => max / s <= count) ?? step * 10;
  const ticks = [];
  for (let v = 0; v <= max; v += nice) ticks.push(v);
  return ticks;
}

function timeTicks(from, to, count = 6) {
  const span = to - from;
  const steps = [1e3, 5e3, 1e4, 3e4, 6e4, 3e5, 6e5, 18e5, 36e5, 108e5, 216e5, 432e5, 864e5, 6048e5, 2592e6];
  const step = steps.find((s) => span / s <= count) ?? span / count;
  const ticks = [];
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) ticks.push(t);
  return { ticks, step };
}

function tickLabel(t, step) {
  const d = new Date(t);
  const pad = (n) => String(n).padStart(2, '0');
  if (step >= 864e5) return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  if (step >= 6e4) return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/**
 * The hit-count histogram. `data`: {buckets: [[t, count]], interval_ms, from, to}.
 * Dragging across it calls onZoom(from, to); clicking a bar zooms to that bar.
 */
export function histogram(container, data, { onZoom }) {
  const width = Math.max(300, (container.clientWidth || 824) - 24);
  const height = 120;
  const margin = { left: 44, right: 8, top: 8, bottom: 20 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const { buckets, interval_ms: interval } = data;
  const from = data.from;
  const to = Math.max(data.to, from + 1);
  const max = Math.max(1, ...buckets.map((b) => b[1]));
  const x = (t) => margin.left + ((t - from) / (to - from)) * plotW;
  const y = (c) => margin.top + plotH - (c / max) * plotH;
  const barW = Math.max(1, (interval / (to - from)) * plotW - 1);
  const root = svg('svg', { class: 'histogram', width, height, role: 'img', 'aria-label': `Hit counts per ${formatInterval(interval)}` });
  for (const v of niceTicks(max)) {
    root.append(svg('line', { class: 'grid', x1: margin.left, x2: width - margin.right, y1: y(v), y2: y(v) }));
    root.append(svg('text', { class: 'axis', x: margin.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, formatCount(v)));
  }
  const { ticks, step } = timeTicks(from, to);
  for (const t of ticks) {
    root.append(svg('text', { class: 'axis', x: x(t), y: height - 4, 'text-anchor': 'middle' }, tickLabel(t, step)));
  }
  for (const [t, count] of buckets) {
    if (count === 0) continue;
    const left = Math.max(margin.left, x(t));
    const bar = svg('rect', {
      class: 'bar', x: left, y: y(count), width: Math.max(1, Math.min(barW, x(t) + barW - left)), height: margin.top + plotH - y(count),
    });
    bar.append(svg('title', {}, `${formatTime(t, false)}: ${formatCount(count)} hits`));
    root.append(bar);
  }
  const brush = svg('rect', { class: 'brush', x: 0, y: margin.top, width: 0, height: plotH, visibility: 'hidden' });
  root.append(brush);
  const timeAt = (clientX) => {
    const box = root.getBoundingClientRect();
    const px = Math.min(Math.max(clientX - box.left, margin.left), width - margin.right);
    return from + ((px - margin.left) / plotW) * (to - from);
  };
  let start = null;
  root.addEventListener('mousedown', (e) => {
    start = e.clientX;
    brush.setAttribute('visibility', 'visible');
    brush.setAttribute('x', e.clientX - root.getBoundingClientRect().left);
    brush.setAttribute('width', 0);
    e.preventDefault();
  });
  root.addEventListener('mousemove', (e) => {
    if (start === null) return;
    const left = root.getBoundingClientRect().left;
    brush.setAttribute('x', Math.min(start, e.clientX) - left);
    brush.setAttribute('width', Math.abs(e.clientX - start));
  });
  const finish = (e) => {
    if (start === null) return;
    const a = timeAt(start);
    const b = timeAt(e.clientX);
    start = null;
    brush.setAttribute('visibility', 'hidden');
    if (Math.abs(b - a) >= interval / 2) {
      onZoom(Math.floor(Math.min(a, b)), Math.ceil(Math.max(a, b)));
    } else {
      // A click: zoom to the bar under the pointer.
      const bucket = buckets.find(([bt]) => bt <= a && a < bt + interval);
      if (bucket && bucket[1] > 0) onZoom(bucket[0], bucket[0] + interval - 1);
    }
  };
  root.addEventListener('mouseup', finish);
  root.addEventListener('mouseleave', (e) => start !== null && finish(e));
  container.replaceChildren(root);
}

/** The scatter plot of found traces: time × duration; click a dot to open its trace. */
export function scatter(container, points, { onOpen }) {
  const width = Math.max(300, (container.clientWidth || 800) - 4);
  const height = 160;
  const margin = { left: 56, right: 12, top: 10, bottom: 20 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const root = svg('svg', { class: 'scatter', width, height, role: 'img', 'aria-label': 'Traces by time and duration' });
  if (points.length === 0) {
    container.replaceChildren(root);
    return;
  }
  const times = points.map((p) => p.time);
  let from = Math.min(...times);
  let to = Math.max(...times);
  if (to === from) { from -= 1000; to += 1000; }
  const maxDuration = Math.max(1, ...points.map((p) => p.duration));
  const x = (t) => margin.left + ((t - from) / (to - from)) * plotW;
  const y = (d) => margin.top + plotH - (d / maxDuration) * plotH;
  for (const v of niceTicks(maxDuration)) {
    root.append(svg('line', { class: 'grid', x1: margin.left, x2: width - margin.right, y1: y(v), y2: y(v) }));
    root.append(svg('text', { class: 'axis', x: margin.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, formatMicros(v)));
  }
  const { ticks, step } = timeTicks(from, to, 5);
  for (const t of ticks) {
    root.append(svg('text', { class: 'axis', x: x(t), y: height - 4, 'text-anchor': 'middle' }, tickLabel(t, step)));
  }
  for (const p of points) {
    const r = Math.min(10, 3 + Math.sqrt(p.spans));
    const dot = svg('circle', { class: p.error ? 'dot dot-error' : 'dot', cx: x(p.time), cy: y(p.duration), r, onclick: () => onOpen(p.id) });
    dot.append(svg('title', {}, `${p.name}\n${formatMicros(p.duration)}, ${p.spans} spans`));
    root.append(dot);
  }
  container.replaceChildren(root);
}

/** A horizontal bar for tables (share of a sample). */
export function shareBar(share) {
  return h('span', { class: 'share' }, h('span', { class: 'share-fill', style: { width: `${Math.round(share * 100)}%` } }));
}

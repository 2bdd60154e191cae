// Opens a large trace in the web UI in headless Chromium and measures what a user feels:
// the time from navigation to the first rows of the timeline, and the time of each frame
// while the timeline scrolls from top to bottom (one screenful per frame, the way a fast
// scroll wheel moves; 16.7 ms is 60 frames a second). Prints one JSON line. Used by bench/run.sh:
//
//   node bench/ui_scroll.mjs http://127.0.0.1:17800 TRACE_ID
//
// Needs Debian's chromium and tests/e2e/node's playwright-core (./test.sh installs both).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(fileURLToPath(new URL('../tests/e2e/node/package.json', import.meta.url)));
const { chromium } = require('playwright-core');

const [base, traceId] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const started = Date.now();
  await page.goto(`${base}/?view=trace&id=${traceId}`);
  await page.waitForSelector('#timeline .span-row', { timeout: 60_000 });
  const firstRowsMs = Date.now() - started;
  const result = await page.evaluate(async () => {
    const timeline = document.querySelector('#timeline');
    // The scroll handler runs before the next frame's animation callbacks: one frame per step.
    const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
    const times = [];
    let maxRows = 0;
    await frame();
    while (timeline.scrollTop + timeline.clientHeight < timeline.scrollHeight - 1) {
      const t = performance.now();
      timeline.scrollTop += timeline.clientHeight;
      await frame();
      times.push(performance.now() - t);
      maxRows = Math.max(maxRows, timeline.querySelectorAll('.span-row').length);
    }
    times.sort((a, b) => a - b);
    const pct = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
    return {
      spans: document.querySelector('#trace-span-count').textContent,
      frames: times.length, frame_p50_ms: pct(0.5), frame_p99_ms: pct(0.99), frame_max_ms: times[times.length - 1],
      max_rows_in_page: maxRows,
    };
  });
  console.log(JSON.stringify({ type: 'ui_scroll', first_rows_ms: firstRowsMs, ...result }));
} finally {
  await browser.close();
}

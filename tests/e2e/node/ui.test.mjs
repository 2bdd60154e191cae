// The web UI in headless Chromium (Debian's chromium, driven by playwright-core), acting as a
// user: tests/e2e/test_ui.py starts Osprey, ships the data of ui_data.py and runs this file
// with OSPREY_URL, OTLP_URL and SEED (the ids of the shipped trace) in the environment.
// Every count the page shows is checked against the native API's answer to the same search.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const URL_BASE = process.env.OSPREY_URL;
const OTLP = process.env.OTLP_URL;
const SEED = JSON.parse(process.env.SEED || '{}');
const SHOTS = process.env.SCREENSHOTS_DIR;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// Absolute bounds around the seeded hour, so that counts do not drift while the test runs.
const FROM = new Date(Date.parse(SEED.seeded_at) - 2 * 3600e3).toISOString();
const TO = new Date(Date.parse(SEED.seeded_at) + 3600e3).toISOString();

let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
});

/** A fresh page (own storage) that records every script error and console error. */
async function open(path = '/', { width = 1280, height = 800, dark = false } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme: dark ? 'dark' : 'light', acceptDownloads: true });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (error) => page.errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') page.errors.push(`console: ${message.text()}`);
  });
  await page.goto(URL_BASE + path);
  return page;
}

async function done(page) {
  assert.deepEqual(page.errors, [], 'no script errors in the console');
  await page.context().close();
}

async function apiSearch(body) {
  const response = await fetch(`${URL_BASE}/api/v1/logs/search`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ size: 0, ...body }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return response.json();
}

async function shownCount(page) {
  const text = await page.locator('#hit-count strong').textContent();
  return Number(text.replace(/[^\d]/g, ''));
}

/** Waits until the page's hit count equals the API's total for the same search. */
async function expectCount(page, body) {
  const expected = (await apiSearch({ index: 'logstash-*', from: FROM, to: TO, ...body })).total.value;
  await page.waitForFunction((n) => {
    const el = document.querySelector('#hit-count strong');
    return el && Number(el.textContent.replace(/[^\d]/g, '')) === n && !document.querySelector('.view.loading');
  }, expected, { timeout: 10_000 }).catch(async () => {
    assert.equal(await shownCount(page), expected, `hit count for ${JSON.stringify(body)}`);
  });
  return expected;
}

async function shot(page, name) {
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png` });
}

test('opening / shows the newest log lines of the default data view', async () => {
  const page = await open('/');
  await page.waitForSelector('#results .row');
  assert.equal(await page.locator('#data-view').inputValue(), 'logstash-*');
  assert.match(page.url(), /dv=logstash-\*|dv=logstash-%2A/);
  const newest = await apiSearch({ index: 'logstash-*', size: 1, from: 'now-15m', to: 'now' });
  const firstRow = page.locator('#results .row').first();
  assert.equal(await firstRow.getAttribute('data-id'), newest.hits[0]._id, 'the first row is the newest document');
  assert.ok(await shownCount(page) > 0);
  assert.ok(await page.locator('#histogram svg rect.bar').count() > 0, 'the histogram has bars');
  await shot(page, 'discover');
  await done(page);
});

test('a user narrows logs down to a trace, finds its slow span and that span\'s logs', async () => {
  const page = await open('/');
  await page.waitForSelector('#results .row');

  // Pick a data view, and come back.
  await page.selectOption('#data-view', 'audit-*');
  await page.waitForFunction(() => document.querySelector('#results .row .doc-cell')?.textContent.includes('action:'));
  await page.selectOption('#data-view', 'logstash-*');
  await page.waitForFunction(() => document.querySelector('#results .row .doc-cell')?.textContent.includes('message:'));

  // Set the time range: typed absolute bounds.
  await page.click('#time-picker');
  await page.fill('#time-from', FROM);
  await page.fill('#time-to', TO);
  await page.click('#time-apply');
  const all = await expectCount(page, {});
  assert.equal(all, SEED.lines, 'every shipped line is in the range');

  // Type a query.
  await page.fill('#query', 'level:error OR level:warn');
  await page.press('#query', 'Enter');
  const errorsAndWarnings = await expectCount(page, { query: 'level:error OR level:warn' });
  assert.ok(errorsAndWarnings < all);
  assert.ok(await page.locator('#results .row mark').count() > 0, 'matched terms are highlighted');

  // + from the sidebar: only the payments pod.
  await page.click('.field-name[data-field="kubernetes.pod_name"]');
  await page.click('.top-value[data-value="payments-66f1-1"] .plus');
  const podFilter = { field: 'kubernetes.pod_name', value: 'payments-66f1-1' };
  await expectCount(page, { query: 'level:error OR level:warn', filters: [podFilter] });

  // − from the sidebar: not the generic "card declined" lines.
  await page.click('.field-name[data-field="message"]');
  await page.click('.top-value[data-value="card declined"] .minus');
  const notDeclined = { field: 'message', value: 'card declined', negate: true };
  const narrowed = await expectCount(page, { query: 'level:error OR level:warn', filters: [podFilter, notDeclined] });
  assert.ok(await page.locator('.filter-pill.negated').count() === 1);

  // Pin the pod filter: it stays across data views.
  await page.click('.filter-pill[data-filter="kubernetes.pod_name: payments-66f1-1"]');
  await page.click('text=Pin across data views');
  await page.waitForSelector('.filter-pill.pinned');
  await page.selectOption('#data-view', 'audit-*');
  await page.waitForSelector('.filter-pill.pinned[data-filter="kubernetes.pod_name: payments-66f1-1"]');
  await page.selectOption('#data-view', 'logstash-*');
  await page.waitForSelector('.filter-pill.pinned');
  await expectCount(page, { query: 'level:error OR level:warn', filters: [podFilter, notDeclined] });

  // Disable the exclusion for a moment: the count goes back up.
  await page.click('.filter-pill.negated');
  await page.click('text=Temporarily disable');
  await page.waitForSelector('.filter-pill.negated.disabled');
  const disabled = await expectCount(page, { query: 'level:error OR level:warn', filters: [podFilter] });
  assert.ok(disabled >= narrowed);
  await shot(page, 'discover-filters');

  // Expand the trace's "payment_methods" line: its document carries the trace id.
  await page.fill('#query', 'message:payment_methods');
  await page.press('#query', 'Enter');
  await expectCount(page, { query: 'message:payment_methods', filters: [podFilter] });
  await page.locator('#results .row', { hasText: 'payment_methods query took 300 ms' }).click();
  await page.waitForSelector('#doc-flyout:not([hidden]) #doc-table');
  assert.equal(await page.locator('#doc-table tr[data-field="trace_id"] .doc-value').textContent(), SEED.trace_id);
  await page.click('#doc-flyout [data-tab="json"]');
  assert.match(await page.locator('#doc-json').textContent(), new RegExp(SEED.slow));
  await shot(page, 'discover-document');

  // Open its trace, find the slow span.
  await page.click('#view-trace');
  await page.waitForSelector('#timeline .span-row');
  assert.equal(await page.locator('#trace-span-count').textContent(), '5');
  await page.click('#slowest-span');
  await page.waitForSelector(`#timeline .span-row.selected[data-span="${SEED.slow}"]`);
  assert.match(await page.locator('#span-detail h3').textContent(), /payments: SELECT payment_methods/);
  const duration = await page.locator('#span-duration').textContent();
  assert.ok(/^\d+(\.\d+)?ms$/.test(duration) && parseFloat(duration) >= 300, `slow span took ${duration}`);
  assert.ok(await page.locator(`#timeline .span-row[data-span="${SEED.slow}"] .critical`).count() > 0, 'the slow span is on the critical path');
  await shot(page, 'trace');

  // Jump to that span's logs: exactly its line.
  await page.click('#span-logs');
  await page.waitForSelector('#results .row');
  await page.waitForFunction(() => document.querySelectorAll('#results .row').length === 1);
  assert.match(await page.locator('#results .row').first().textContent(), /payment_methods query took 300 ms/);
  assert.match(await page.locator('#query').inputValue(), new RegExp(SEED.slow));
  // The pinned pod filter came along; it matches this line too.
  assert.equal(await page.locator('.filter-pill.pinned').count(), 1);
  await done(page);
});

test('query errors are shown at their position, and fields and values complete', async () => {
  const page = await open('/?dv=logstash-*');
  await page.waitForSelector('#results .row');
  await page.click('#query');
  await page.keyboard.type('level:(error AND');
  await page.waitForSelector('#query-error:not([hidden])');
  const message = await page.locator('#query-error').textContent();
  assert.match(message, /Column \d+/);
  assert.ok(await page.locator('#query-error pre.caret').count() === 1, 'a caret marks the position');
  await page.fill('#query', '');
  await page.keyboard.type('kubernetes.po');
  await page.waitForSelector('#query-suggestions:not([hidden]) .suggestion');
  assert.match(await page.locator('#query-suggestions').textContent(), /kubernetes\.pod_name/);
  await page.keyboard.press('Tab');
  assert.equal(await page.locator('#query').inputValue(), 'kubernetes.pod_name:');
  await page.keyboard.type('pay');
  await page.waitForSelector('#query-suggestions:not([hidden]) .suggestion >> text=payments-66f1-1');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  assert.equal((await page.locator('#query').inputValue()).trim(), 'kubernetes.pod_name:payments-66f1-1');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('q') === 'kubernetes.pod_name:payments-66f1-1 ');
  await done(page);
});

test('dragging across the histogram zooms in, and the state is in the URL', async () => {
  const page = await open(`/?dv=logstash-*&from=${encodeURIComponent(FROM)}&to=${encodeURIComponent(TO)}`);
  await page.waitForSelector('#histogram svg rect.bar');
  const before = await shownCount(page);
  const box = await page.locator('#histogram svg').boundingBox();
  await page.mouse.move(box.x + box.width * 0.55, box.y + 40);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.7, box.y + 40, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction((from) => new URL(location.href).searchParams.get('from') !== from, FROM);
  const url = new URL(page.url());
  const from = url.searchParams.get('from');
  const to = url.searchParams.get('to');
  assert.ok(Date.parse(from) > Date.parse(FROM) && Date.parse(to) < Date.parse(TO));
  const zoomed = await expectCount(page, { from, to });
  assert.ok(zoomed < before);
  // Back returns to the wider range.
  await page.goBack();
  await page.waitForFunction((n) => Number(document.querySelector('#hit-count strong')?.textContent.replace(/[^\d]/g, '')) === n, before);
  // A quick range from the picker.
  await page.click('#time-picker');
  await page.click('.quick-ranges >> text=Last 1 hour');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('from') === 'now-1h');
  assert.equal(await page.locator('#time-picker').textContent(), 'Last 1 hour');
  await done(page);
});

test('the keyboard drives the main actions', async () => {
  const page = await open('/?dv=logstash-*');
  await page.waitForSelector('#results .row');
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'query');
  await page.keyboard.type('level:error');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('q') === 'level:error');
  await page.keyboard.press('Escape');
  await page.focus('#results');
  await page.keyboard.press('j');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#doc-flyout:not([hidden])');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#doc-flyout[hidden]', { state: 'attached' });
  const themeBefore = await page.evaluate(() => document.documentElement.dataset.theme);
  await page.keyboard.press('t');
  assert.notEqual(await page.evaluate(() => document.documentElement.dataset.theme), themeBefore);
  await page.keyboard.press('2');
  await page.waitForSelector('#trace-service');
  await page.keyboard.press('1');
  await page.waitForSelector('#results .row');
  await page.keyboard.press('?');
  await page.waitForSelector('dialog#shortcuts[open]');
  await page.keyboard.press('Escape');
  await done(page);
});

test('a document\'s surrounding lines come from its pod; live tail shows new lines', async () => {
  const page = await open(`/?dv=logstash-*&q=message:payment_methods`);
  await page.waitForSelector('#results .row');
  await page.locator('#results .row').first().click();
  await page.click('#doc-flyout [data-tab="surrounding"]');
  await page.waitForSelector('#surrounding li.anchor');
  const pods = await page.locator('#surrounding li').count();
  assert.ok(pods >= 2, 'lines before or after the anchor');
  await page.click('#doc-flyout .close');

  await page.goto(`${URL_BASE}/?dv=logstash-*&q=tailed`);
  await page.waitForSelector('#results .no-results');
  await page.click('#tail');
  const line = { '@timestamp': new Date().toISOString(), message: 'tailed line from the test', level: 'info' };
  const body = `${JSON.stringify({ index: { _index: SEED.index } })}\n${JSON.stringify(line)}\n`;
  const response = await fetch(`${URL_BASE}/_bulk`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
  assert.equal(response.status, 200);
  await page.waitForSelector('#results .row >> text=tailed line from the test', { timeout: 15_000 });
  await page.click('#tail');
  await done(page);
});

test('CSV export and saved searches', async () => {
  const page = await open(`/?dv=logstash-*&q=level:error&cols=${encodeURIComponent('["message","kubernetes.pod_name"]')}&from=${encodeURIComponent(FROM)}&to=${encodeURIComponent(TO)}`);
  await page.waitForSelector('#results .row');
  const expected = await expectCount(page, { query: 'level:error' });
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
  const path = await download.path();
  const { readFileSync } = await import('node:fs');
  const lines = readFileSync(path, 'utf8').trim().split('\r\n');
  assert.equal(lines[0], '"@timestamp","message","kubernetes.pod_name"');
  assert.equal(lines.length - 1, expected);

  await page.click('#discover-menu');
  await page.fill('#saved-name', 'errors by pod');
  await page.press('#saved-name', 'Enter');
  await page.goto(`${URL_BASE}/?dv=audit-*`);
  await page.waitForSelector('#results .row');
  await page.click('#discover-menu');
  await page.click('.saved a >> text=errors by pod');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('q') === 'level:error');
  assert.equal(await page.locator('#data-view').inputValue(), 'logstash-*');
  await expectCount(page, { query: 'level:error' });
  await done(page);
});

test('trace search: scatter plot, sortable list, RED metrics, service map', async () => {
  const page = await open('/?view=traces');
  await page.waitForSelector('#trace-service option[value="payments"]', { state: 'attached' });
  await page.selectOption('#trace-service', 'payments');
  await page.selectOption('#trace-lookback', '2h');
  await page.click('#find-traces');
  await page.waitForSelector(`.trace-item[data-trace="${SEED.trace_id}"]`);
  assert.ok(await page.locator('#trace-scatter circle.dot').count() >= 1);
  assert.match(await page.locator('#red-metrics').textContent(), /SELECT payment_methods/);
  await shot(page, 'traces');
  await page.click(`.trace-item[data-trace="${SEED.trace_id}"] .trace-link`);
  await page.waitForSelector('#timeline .span-row');
  for (const tab of ['flame', 'graph', 'stats']) {
    await page.click(`.tabs [data-tab="${tab}"]`);
  }
  await page.waitForSelector('#trace-stats');
  assert.match(await page.locator('#trace-stats').textContent(), /charge card/);
  await page.goto(`${URL_BASE}/?view=map`);
  await page.waitForSelector('#service-map svg .node');
  assert.equal(await page.locator('#service-map svg .node').count(), 3);
  await shot(page, 'service-map');
  await done(page);
});

test('a 10,000-span trace renders only the rows in view and scrolls to its last span', async () => {
  const traceId = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
  const spanId = (i) => (i + 1).toString(16).padStart(16, '0');
  const start = BigInt(Date.now() - 60_000) * 1_000_000n;
  const spans = [];
  for (let i = 0; i < 10_000; i++) {
    const s = start + BigInt(i) * 1_000_000n;
    spans.push({
      traceId, spanId: spanId(i), parentSpanId: i === 0 ? '' : spanId(Math.floor((i - 1) / 8)),
      name: `op-${i % 50}`, kind: 2, startTimeUnixNano: String(s), endTimeUnixNano: String(s + BigInt(10_000_000 - (i % 10) * 100_000)),
    });
  }
  // The root spans the whole trace.
  spans[0].endTimeUnixNano = String(start + 10_001n * 1_000_000n);
  const body = { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bulk-trace' } }] }, scopeSpans: [{ spans }] }] };
  const response = await fetch(`${OTLP}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(response.status, 200, await response.text());
  const page = await open(`/?view=trace&id=${traceId}`, { width: 1920, height: 1080, dark: true });
  await page.waitForSelector('#timeline .span-row', { timeout: 20_000 });
  assert.equal(await page.locator('#trace-span-count').textContent(), '10,000');
  const rendered = await page.locator('#timeline .span-row').count();
  assert.ok(rendered < 120, `only the rows in view are in the page (${rendered})`);
  await shot(page, 'trace-10k-dark');
  await page.locator('#timeline').evaluate((el) => { el.scrollTop = el.scrollHeight; });
  // The last row of the tree (depth first) is in the page once scrolled to.
  await page.waitForSelector('#timeline .span-row[data-index="9999"]', { state: 'attached' });
  assert.ok(await page.locator('#timeline .span-row').count() < 120);
  await done(page);
});

test('two traces compare; a trace downloads as JSON and opens again from the file', async () => {
  // A custom time window around the seeding, given in the URL, shows in the form.
  const page = await open(`/?view=traces&service=payments&lookback=custom&start=${encodeURIComponent(FROM)}&end=${encodeURIComponent(TO)}`);
  await page.waitForSelector(`.trace-item[data-trace="${SEED.other_trace_id}"]`);
  assert.ok(await page.locator('#trace-start').isVisible());
  assert.equal(new Date(await page.locator('#trace-start').inputValue()).getTime(), Date.parse(FROM) - (Date.parse(FROM) % 1000));
  await page.check(`.trace-item[data-trace="${SEED.trace_id}"] input[type=checkbox]`);
  await page.check(`.trace-item[data-trace="${SEED.other_trace_id}"] input[type=checkbox]`);
  await page.click('#compare-traces');
  await page.waitForSelector('#trace-compare');
  const rows = await page.locator('#trace-compare tbody tr').count();
  assert.equal(rows, 5, 'one row per service and operation');
  assert.match(await page.locator('#trace-compare').textContent(), /SELECT payment_methods/);

  await page.goto(`${URL_BASE}/?view=trace&id=${SEED.trace_id}`);
  await page.waitForSelector('#timeline .span-row');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-json')]);
  const file = await download.path();
  const { readFileSync } = await import('node:fs');
  assert.equal(JSON.parse(readFileSync(file, 'utf8')).data[0].traceID, SEED.trace_id);
  await page.goto(`${URL_BASE}/?view=traces`);
  await page.setInputFiles('.open-json input[type=file]', file);
  await page.waitForSelector('#timeline .span-row');
  assert.equal(await page.locator('#trace-span-count').textContent(), '5');
  await done(page);
});

test('a filter is edited, KQL is switched on, and auto-refresh runs the search again', async () => {
  const page = await open(`/?dv=logstash-*&from=${encodeURIComponent(FROM)}&to=${encodeURIComponent(TO)}`);
  await page.waitForSelector('#results .row');
  await page.click('#add-filter');
  await page.selectOption('#filter-field', 'level');
  await page.fill('#filter-value', 'error');
  await page.click('.filter-editor button[type=submit]');
  await expectCount(page, { filters: [{ field: 'level', value: 'error' }] });
  await page.click('.filter-pill[data-filter="level: error"]');
  await page.click('text=Edit filter');
  await page.fill('#filter-value', 'warn');
  await page.click('.filter-editor button[type=submit]');
  await page.waitForSelector('.filter-pill[data-filter="level: warn"]');
  await expectCount(page, { filters: [{ field: 'level', value: 'warn' }] });

  await page.click('#query-language');
  await page.waitForFunction(() => document.querySelector('#query-language').textContent === 'KQL');
  await page.fill('#query', 'kubernetes.pod_name: web-7d9f-1 and not http.status_code: 500');
  await page.press('#query', 'Enter');
  await expectCount(page, { query: 'kubernetes.pod_name: web-7d9f-1 and not http.status_code: 500', language: 'kql', filters: [{ field: 'level', value: 'warn' }] });

  await page.click('#time-picker');
  await page.selectOption('#refresh-interval', '5s');
  await page.click('#time-apply');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('refresh') === '5s');
  const searches = [];
  page.on('request', (r) => { if (r.url().endsWith('/api/v1/logs/search')) searches.push(Date.now()); });
  await page.waitForTimeout(6000);
  assert.ok(searches.length >= 1, 'auto-refresh searched again');
  await done(page);
});

test('dark theme at a wide screen', async () => {
  const page = await open(`/?dv=logstash-*&from=${encodeURIComponent(FROM)}&to=${encodeURIComponent(TO)}`, { width: 1920, height: 1080, dark: true });
  await page.waitForSelector('#results .row');
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(background, 'rgb(29, 30, 36)');
  const histogram = await page.locator('#histogram svg').boundingBox();
  assert.ok(histogram.width > 1500, `the histogram uses the width (${histogram.width})`);
  await shot(page, 'discover-dark');
  await done(page);
});

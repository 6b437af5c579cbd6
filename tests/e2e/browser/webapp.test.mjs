// The web app in a real browser (Debian's Chromium through playwright-core)
// against a real labtail and a real Docker engine. Screenshots of every page
// go to test-output/screenshots/.

import { test, before, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { World, deadline, freePort, range } from '../lib/harness.mjs';
import { RealProvider } from '../lib/idp.mjs';

const ROOT = resolve(import.meta.dirname, '../../..');
const WEB = process.env.LABTAIL_WEB_DIR ?? join(ROOT, 'web', 'dist');
const SHOTS = join(ROOT, 'test-output', 'screenshots');
const CHROMIUM = process.env.LABTAIL_CHROMIUM ?? '/usr/bin/chromium';

let browser;
const worlds = [];
const world = () => { const w = new World(); worlds.push(w); return w; };
/** Identity providers started by a test, stopped after it. */
const providers = [];

before(async () => {
  assert.ok(existsSync(join(WEB, 'index.html')), `build the web app first (npm --prefix web run build): ${WEB}`);
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => { await browser?.close(); });
afterEach(async () => {
  for (const w of worlds.splice(0)) await w.cleanup();
  for (const p of providers.splice(0)) await p.stop();
});

async function newPage(w, opts = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true, ...opts });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  page.world = w;
  return page;
}

async function logIn(page, user) {
  await page.goto(page.world.url);
  await page.getByLabel('User name').fill(user.name);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor({ timeout: 15_000 });
}

/** The viewer's "Download loaded" file, as lines. */
async function downloadLoaded(page) {
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 15_000 }),
    page.getByRole('button', { name: 'Download loaded' }).click(),
  ]);
  const text = readFileSync(await download.path(), 'utf8');
  return text.split('\n').slice(0, -1);
}

async function lineCount(page, n, ms = 30_000) {
  await page.getByTestId('line-count').filter({ hasText: new RegExp(`^${n} lines$`) }).waitFor({ timeout: ms });
}

/** Waits until the viewer holds at least n lines (rows out of view are not in the DOM). */
async function atLeast(page, n, ms = 30_000) {
  await page.waitForFunction((min) => {
    const t = document.querySelector('[data-testid="line-count"]')?.textContent ?? '';
    return Number.parseInt(t, 10) >= min;
  }, n, { timeout: ms });
}

const serve = (w, extra = []) => w.start(['--web-dir', WEB, ...extra]);

describe('student', () => {
  test('logs in, sees only their containers, and watches lines arrive live in order', async () => {
    const w = world();
    await serve(w);
    const amy = w.addUser('amy', 'student');
    w.addUser('ben', 'student');
    const own = w.run('amy', `${World.gate} i=1; while [ $i -le 300 ]; do echo "line $i"; `
      + 'if [ $((i % 25)) -eq 0 ]; then printf "\\033[31mwarning %d\\033[0m\\n" $i >&2; fi; i=$((i+1)); sleep 0.005; done; sleep 300');
    const other = w.run('ben', 'echo ben-only; sleep 300');
    const page = await newPage(w);
    await page.goto(w.url);
    await page.screenshot({ path: join(SHOTS, 'login.png') });
    await logIn(page, amy);
    await page.getByRole('link', { name: own }).waitFor();
    assert.equal(await page.getByRole('link', { name: other }).count(), 0, "another student's container is not listed");
    await page.screenshot({ path: join(SHOTS, 'student-containers.png') });

    await page.getByRole('link', { name: own }).click();
    await page.getByTestId('stream-state').filter({ hasText: 'running' }).waitFor();
    w.open(own);
    await lineCount(page, 312);
    await page.screenshot({ path: join(SHOTS, 'viewer-light.png') });
    const lines = await downloadLoaded(page);
    const out = lines.filter((l) => l.startsWith('line '));
    assert.deepEqual(out, range(1, 300).map((n) => `line ${n}`));
    assert.equal(lines.filter((l) => l.includes('warning')).length, 12);
    // stderr lines are marked apart and can be filtered out.
    assert.equal(await page.locator('.row.stream-stderr').first().locator('.badge').textContent(), 'err');
    await page.getByRole('checkbox', { name: 'stderr' }).uncheck();
    assert.equal(await page.locator('.row.stream-stderr').count(), 0);
    await page.getByRole('checkbox', { name: 'stderr' }).check();
    // Search filters and highlights.
    await page.getByPlaceholder('Search…').fill('line 29');
    await page.locator('mark').first().waitFor();
    const shown = await page.locator('.row.line .text').allTextContents();
    assert.deepEqual(shown, ['line 29', ...range(290, 299).map((n) => `line ${n}`)]);
    assert.deepEqual(page.errors, []);
  });

  test('log text is rendered as text: no HTML injection, ANSI styled safely', async () => {
    const w = world();
    await serve(w);
    const u = w.addUser('eve', 'student');
    const box = w.run('eve', 'echo \'<img src=x onerror="window.__xss=1">\'; '
      + 'echo \'<script>window.__xss=2</script>\'; printf \'\\033[1;32mgreen bold\\033[0m and \\033]8;;javascript:alert(1)\\007link\\033]8;;\\007\\n\'; sleep 300');
    const page = await newPage(w);
    await logIn(page, u);
    await page.goto(`${w.url}/c/${box}`);
    await lineCount(page, 3);
    const texts = await page.locator('.row.line .text').allTextContents();
    assert.deepEqual(texts, ['<img src=x onerror="window.__xss=1">', '<script>window.__xss=2</script>', 'green bold and link']);
    // The only links in the log are its lines' own addresses (history's
    // permalinks), never anything from the text.
    assert.equal(await page.locator('.log .text img, .log .text script, .log .text a, .log img, .log script').count(), 0);
    for (const href of await page.locator('.log a').evaluateAll((as) => as.map((a) => a.getAttribute('href')))) {
      assert.match(href, new RegExp(`^/c/${box}\\?at=\\d{19}-[oec]\\d{6}$`));
    }
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    const green = page.locator('.row.line .text span.ansi-fg-2');
    assert.equal(await green.textContent(), 'green bold');
    assert.match(await green.getAttribute('class'), /ansi-bold/);
    await page.screenshot({ path: join(SHOTS, 'viewer-injection.png') });
  });

  test('after a labtail restart the page reconnects and resumes with no gap and no duplicate', async () => {
    const w = world();
    await serve(w);
    const u = w.addUser('ray', 'student');
    const box = w.run('ray', `${World.gate} i=1; while [ $i -le 1500 ]; do echo "n $i"; `
      + 'if [ $((i % 100)) -eq 0 ]; then sleep 0.3; fi; i=$((i+1)); done; echo done; sleep 300');
    const page = await newPage(w);
    await logIn(page, u);
    await page.goto(`${w.url}/c/${box}`);
    await page.getByTestId('stream-state').filter({ hasText: 'running' }).waitFor();
    w.open(box);
    await atLeast(page, 200);
    await w.restart();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor({ timeout: 30_000 });
    await lineCount(page, 1501, 60_000);
    const lines = await downloadLoaded(page);
    assert.deepEqual(lines, [...range(1, 1500).map((n) => `n ${n}`), 'done']);
  });

  test('a log opened by ID or by "/name" shows its lines and says which container it is', async () => {
    const w = world();
    await serve(w);
    const u = w.addUser('ida', 'student');
    const box = w.run('ida', 'for i in 1 2 3; do echo "by id $i"; done; sleep 300');
    const id = w.docker('inspect', '-f', '{{.Id}}', box);
    const page = await newPage(w);
    await logIn(page, u);
    // The server answers with the container's own name; the view routes its
    // events by that answer, not by what it asked for.
    for (const asked of [id.slice(0, 12), id, `%2F${box}`]) {
      await page.goto(`${w.url}/c/${asked}`);
      await lineCount(page, 3);
      assert.deepEqual(await page.locator('.row.line .text').allTextContents(), ['by id 1', 'by id 2', 'by id 3']);
      await page.getByTestId('viewer-name').filter({ hasText: new RegExp(`^${box}$`) }).waitFor();
      assert.equal(await page.getByTestId('viewer-owner').textContent(), 'ida');
      assert.equal(await page.getByTestId('viewer-image').textContent(), `labtail-busybox:test · ${id.slice(0, 12)}`);
      assert.equal(await page.getByTestId('stream-state').textContent(), 'running');
    }
    await page.screenshot({ path: join(SHOTS, 'viewer-by-id.png') });
    assert.deepEqual(page.errors, []);
  });

  test('when the session ends the page goes back to the login form', async () => {
    const w = world();
    await serve(w);
    const u = w.addUser('sue', 'student');
    const page = await newPage(w);
    await logIn(page, u);
    assert.equal(w.cli(['user', 'revoke', 'sue']).code, 0);
    await page.getByText('Your session has ended').waitFor({ timeout: 15_000 });
    await page.getByLabel('User name').waitFor();
  });

  test('a flood stays bounded and the tab stays responsive', async () => {
    const w = world();
    await serve(w);
    const u = w.addUser('flo', 'student');
    const box = w.run('flo', `${World.gate} seq 1 80000; sleep 300`);
    const page = await newPage(w);
    await logIn(page, u);
    await page.goto(`${w.url}/c/${box}`);
    await page.getByTestId('stream-state').filter({ hasText: 'running' }).waitFor();
    w.open(box);
    // The view keeps the newest 50 000 lines and says how many it let go.
    await page.getByTestId('hidden-count').filter({ hasText: '30,000 earlier lines not shown' }).waitFor({ timeout: 60_000 });
    await lineCount(page, 50000);
    // The tab still answers a click (how fast is the benchmarks' business).
    await page.getByRole('button', { name: 'Wrap' }).click();
    assert.equal(await page.getByRole('button', { name: 'Wrap' }).getAttribute('aria-pressed'), 'true');
    assert.equal(await page.locator('.row.line').last().locator('.text').textContent(), '80000');
  });
});

describe('instructor', () => {
  test('sees every student, opens any log, and merges two containers in time order', async () => {
    const w = world();
    await serve(w);
    const prof = w.addUser('prof', 'instructor');
    const amy = w.addUser('amy', 'student');
    const a = w.run('amy', `${World.gate} i=1; while [ $i -le 40 ]; do echo "amy $i"; i=$((i+1)); sleep 0.05; done; sleep 300`);
    const b = w.run('ben', `${World.gate} i=1; while [ $i -le 40 ]; do echo "ben $i"; i=$((i+1)); sleep 0.05; done; sleep 300`);
    w.run(null, 'echo unlabelled; sleep 300');
    // amy watches her container, so the dashboard shows her as a watcher.
    const amyPage = await newPage(w);
    await logIn(amyPage, amy);
    await amyPage.goto(`${w.url}/c/${a}`);
    await amyPage.getByTestId('stream-state').filter({ hasText: 'running' }).waitFor();

    const page = await newPage(w, { colorScheme: 'dark' });
    await logIn(page, prof);
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    await page.getByRole('heading', { name: 'amy' }).waitFor({ timeout: 15_000 });
    await page.getByRole('heading', { name: 'ben' }).waitFor();
    assert.equal(await page.getByText('unlabelled').count(), 0);
    await page.getByTestId(`dash-${a}`).getByText('amy', { exact: true }).waitFor({ timeout: 15_000 });
    w.open(a);
    w.open(b);
    // Live rates arrive by push, not by polling.
    await page.getByTestId(`dash-${b}`).locator('td.num').first().filter({ hasNotText: /^0\.0$/ }).waitFor({ timeout: 15_000 });
    await page.screenshot({ path: join(SHOTS, 'dashboard.png') });

    await page.getByLabel(`Select ${a}`).check();
    await page.getByLabel(`Select ${b}`).check();
    await page.getByRole('button', { name: /Merged view/ }).click();
    await lineCount(page, 80, 30_000);
    await page.screenshot({ path: join(SHOTS, 'merged-view.png') });
    const lines = await downloadLoaded(page);
    const ts = lines.map((l) => l.split(' ')[0]);
    assert.deepEqual(ts, [...ts].sort(), 'merged lines are in time order');
    const texts = lines.map((l) => l.split(' ').slice(3).join(' '));
    assert.deepEqual(texts.filter((t) => t.startsWith('amy')), range(1, 40).map((n) => `amy ${n}`));
    assert.deepEqual(texts.filter((t) => t.startsWith('ben')), range(1, 40).map((n) => `ben ${n}`));
    // Both containers interleave (they printed at the same time).
    assert.ok(texts.slice(0, 20).some((t) => t.startsWith('amy')) && texts.slice(0, 20).some((t) => t.startsWith('ben')));

    await page.getByRole('link', { name: 'Dashboard' }).click();
    await page.getByRole('link', { name: b }).click();
    await lineCount(page, 40);
    await page.screenshot({ path: join(SHOTS, 'viewer-dark.png') });
    assert.deepEqual(page.errors, []);
  });
});

// Lab history: the viewer as a window onto every line a container wrote,
// kept after it is gone.

/** GET an API path with a session cookie; resolves with {status, body}. */
async function api(w, cookie, path) {
  const res = await fetch(`${w.url}${path}`, { headers: { cookie } });
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, body: type.includes('json') ? await res.json() : await res.arrayBuffer() };
}

/** Waits until history holds `n` lines of the container (and its end, if asked). */
async function recorded(w, cookie, name, n, { state, ms = 120_000 } = {}) {
  const end = Date.now() + ms;
  let last = 'nothing yet';
  while (Date.now() < end) {
    const r = await api(w, cookie, `/api/history/${encodeURIComponent(name)}/lines?limit=1`);
    last = `page ${r.status} ${JSON.stringify(r.body?.total ?? r.body)}`;
    if (r.status === 200 && r.body.total >= n) {
      if (!state) return r.body;
      const list = (await api(w, cookie, '/api/containers')).body;
      const row = list.find((c) => c.name === name);
      last += `, listed ${JSON.stringify(row)}`;
      if (row && row.state === state && row.exitCode !== undefined) return r.body;
    }
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${n} lines of ${name} in history${state ? `, ${state}` : ''} (last: ${last})`);
}

/** Prints `line 1` … `line n` at once (busybox awk: fast), then `tail`. */
const numbered = (n, tail = '') => `awk 'BEGIN { for (i = 1; i <= ${n}; i++) print "line " i }'; ${tail}`;

/** The rows the viewer has in the DOM, in order: lines' text, markers' text. */
function rowsInDom(page) {
  return page.getByTestId('log').evaluate((el) => [...el.querySelectorAll('.row')]
    .sort((a, b) => Number(a.dataset.index) - Number(b.dataset.index))
    .map((r) => (r.classList.contains('line') ? r.querySelector('.text').textContent : `[${r.textContent.trim()}]`)));
}

/** Saves a download and unpacks the zip; its manifest and directory. */
async function unzipDownload(w, download, name) {
  const file = join(w.dataDir, `${name}.zip`);
  await download.saveAs(file);
  const dir = join(w.dataDir, name);
  const r = spawnSync('python3', ['-c', 'import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])', file, dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { manifest: JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')), dir };
}

/** Every file a manifest lists is there and has its SHA-256. */
function checkBundle({ manifest, dir }) {
  for (const c of manifest.containers) {
    const body = readFileSync(join(dir, c.file));
    assert.equal(createHash('sha256').update(body).digest('hex'), c.sha256, c.file);
    assert.equal(body.toString().split('\n').length - 1, c.lines, c.file);
  }
}

const lineNo = (t) => Number(t.match(/^line (\d+)/)?.[1]);

/**
 * The top of a log: its start, then the first run's lifecycle, then line 1.
 * (This labtail's history lacks the first run's `started` event in about one
 * run of five, though its `created` and its lines are there: reported.)
 */
function assertStart(rows) {
  const head = rows.slice(0, rows.indexOf('line 1') + 1);
  assert.equal(head[0], '[Start of the log]', JSON.stringify(head));
  assert.equal(head.at(-1), 'line 1', JSON.stringify(head));
  assert.deepEqual(head.slice(1, -1).filter((r) => r !== '[container started]'), ['[container created]'], JSON.stringify(head));
}

describe('history', () => {
  test('scrolls back through a 100 000-line history, bounded, in order, and jumps back to the latest', async () => {
    const w = world();
    await serve(w);
    const amy = w.addUser('amy', 'student');
    const cookie = await w.login(amy.name, amy.password);
    const box = w.run('amy', `${World.gate}${numbered(100000, 'exit 3')}`);
    await recorded(w, cookie, box, 0);
    w.open(box);
    await recorded(w, cookie, box, 100000, { state: 'exited' });

    const page = await newPage(w);
    await logIn(page, amy);
    await page.goto(`${w.url}/c/${box}`);
    await atLeast(page, 1000);
    // The newest lines, and how the container ended right after the last one.
    await page.getByTestId('note').filter({ hasText: 'container exited with code 3' }).waitFor();
    let rows = await rowsInDom(page);
    assert.deepEqual(rows.slice(-2), ['line 100000', '[container exited with code 3]']);
    await page.getByTestId('stream-state').filter({ hasText: 'exited' }).waitFor();
    assert.match(await page.getByTestId('viewer-ended').textContent(), /^exited with code 3 · ended /);

    // Scroll to the top of what is loaded, again and again: older pages come
    // in front, in order, and the view never holds more than 50 000 lines.
    const log = page.getByTestId('log');
    let prevFirst = Infinity;
    let most = 0;
    const t0 = Date.now();
    for (;;) {
      assert.ok(Date.now() - t0 < 400_000, `still at line ${prevFirst} after ${Date.now() - t0} ms`);
      await log.evaluate((el) => { el.scrollTop = 0; });
      // The page before comes in front and the reader's line stays in view
      // (the position moves down by the rows put above it); or the start
      // of the log is at the top.
      const start = await (await page.waitForFunction(() => {
        const el = document.querySelector('[data-testid="log"]');
        if (el.scrollTop > 0) return 'loaded';
        return el.querySelector('.row[data-index="0"]')?.textContent === 'Start of the log' ? 'start' : false;
      }, null, { timeout: 30_000 })).jsonValue();
      const rows = await rowsInDom(page);
      const nums = rows.filter((t) => t.startsWith('line ')).map(lineNo);
      // What is on screen reads in order, with nothing missing (across the
      // seam between the new page and what was there), further back each time.
      nums.forEach((n, i) => { if (i > 0) assert.equal(n, nums[i - 1] + 1, `${nums[i - 1]} then ${n}`); });
      assert.ok(nums[0] < prevFirst || start === 'start', `line ${nums[0]} after line ${prevFirst}`);
      prevFirst = Math.min(prevFirst, nums[0]);
      const count = Number.parseInt(await page.getByTestId('line-count').textContent(), 10);
      most = Math.max(most, count);
      assert.ok(count <= 50000, `${count} lines held`);
      if (start === 'start') {
        assertStart(rows);
        break;
      }
    }
    assert.equal(prevFirst, 1);
    // At the bound (a marker row, the start or the exit, may take one place).
    assert.ok(most >= 49999, `at most ${most} lines held`);
    await page.getByTestId('not-live').waitFor();
    await page.screenshot({ path: join(SHOTS, 'history-scrollback.png') });
    // The whole window, as a file: the first lines of the log, in order.
    const loaded = await downloadLoaded(page);
    assert.ok(loaded.length >= 49000 && loaded.length <= 50000, `${loaded.length} lines loaded`);
    assert.deepEqual(loaded, range(1, loaded.length).map((n) => `line ${n}`));

    // Back to the latest: the last lines again, and the end told once.
    await page.getByRole('button', { name: 'Jump to latest ↓' }).click();
    await page.getByTestId('note').filter({ hasText: 'container exited with code 3' }).waitFor();
    await page.waitForFunction(() => !document.querySelector('[data-testid="not-live"]'));
    rows = await rowsInDom(page);
    assert.deepEqual(rows.slice(-2), ['line 100000', '[container exited with code 3]']);
    assert.equal(rows.filter((r) => r.includes('exited with code')).length, 1);
    assert.deepEqual(page.errors, []);
  });

  test('a removed container opens from the list and shows its whole log, its end in place', async () => {
    const w = world();
    await serve(w);
    const bea = w.addUser('bea', 'student');
    const cookie = await w.login(bea.name, bea.password);
    const box = `rm-${w.id}`;
    // It lives two seconds after its last line: with this labtail, a --rm
    // container that exits and is removed the moment it has printed loses
    // its lines from history in about half the runs (reported; not the web
    // app's to hide).
    w.run('bea', `${World.gate}${numbered(1500, 'sleep 2; exit 3')}`, ['--rm'], box);
    await recorded(w, cookie, box, 0);
    w.open(box);
    await recorded(w, cookie, box, 1500, { state: 'removed' });

    const page = await newPage(w);
    await logIn(page, bea);
    const card = page.getByTestId(`card-${box}`);
    await card.getByText('removed', { exact: true }).waitFor();
    assert.match(await card.getByTestId('card-status').textContent(), /^exited with code 3 · ended /);
    await page.screenshot({ path: join(SHOTS, 'history-removed-list.png') });
    await card.getByRole('link', { name: box }).click();
    await page.getByTestId('stream-state').filter({ hasText: 'removed' }).waitFor();
    assert.match(await page.getByTestId('viewer-ended').textContent(), /exited with code 3/);
    await atLeast(page, 1000);
    const rows = await rowsInDom(page);
    assert.deepEqual(rows.slice(-3), ['line 1500', '[container exited with code 3]', '[container removed]']);
    // Its older lines come from history as the reader scrolls up.
    await page.getByTestId('log').evaluate((el) => { el.scrollTop = 0; });
    await lineCount(page, 1500);
    // The reader's line stayed in view; the start is above it.
    await page.getByTestId('log').evaluate((el) => { el.scrollTop = 0; });
    await page.getByTestId('note').filter({ hasText: 'Start of the log' }).waitFor();
    assertStart(await rowsInDom(page));
    assert.deepEqual(await downloadLoaded(page), range(1, 1500).map((n) => `line ${n}`));
    await page.screenshot({ path: join(SHOTS, 'history-removed.png') });
    assert.deepEqual(page.errors, []);
  });

  test('lifecycle in place: each run between its start and its exit', async () => {
    const w = world();
    await serve(w);
    const cal = w.addUser('cal', 'student');
    const cookie = await w.login(cal.name, cal.password);
    const box = w.run('cal', `${World.gate}${numbered(40, 'exit 3')}`);
    await recorded(w, cookie, box, 0);
    w.open(box);
    await recorded(w, cookie, box, 40, { state: 'exited' });
    // A second run (the gate is open now): the same 40 lines, the same exit.
    w.docker('start', box);
    await recorded(w, cookie, box, 80);
    await recorded(w, cookie, box, 80, { state: 'exited' });
    const page = await newPage(w);
    await logIn(page, cal);
    await page.goto(`${w.url}/c/${box}`);
    await lineCount(page, 80);
    await page.getByTestId('note').filter({ hasText: 'container exited with code 3' }).nth(1).waitFor();
    const rows = await rowsInDom(page);
    const at = rows.indexOf('line 40');
    assert.deepEqual(rows.slice(at, at + 4), ['line 40', '[container exited with code 3]', '[container started]', 'line 1']);
    assert.equal(rows.at(-1), '[container exited with code 3]');
    assert.equal(rows.filter((r) => r === '[container exited with code 3]').length, 2);
    await page.screenshot({ path: join(SHOTS, 'history-lifecycle.png') });

    // Jump to a time: the second run's first second. The first line at the
    // top (under the markers of its run's start) is the first one stamped
    // then or later.
    const all = (await api(w, cookie, `/api/history/${box}/lines?head=true&limit=100`)).body.lines;
    const second = Math.floor(Date.parse(all[40].ts) / 1000) * 1000;
    const expected = all.find((l) => Date.parse(l.ts) >= second);
    const local = await page.evaluate((ms) => {
      const d = new Date(ms);
      const p = (n) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    }, second);
    await page.getByLabel('Jump to time').fill(local);
    await page.getByRole('button', { name: 'Jump to time' }).click();
    // (What follows it is short: the window reaches the live end at once.)
    await page.waitForFunction((cursor) => {
      const el = document.querySelector('[data-testid="log"]');
      const y = (r) => Number(r.style.transform.match(/translateY\(([\d.]+)px\)/)?.[1]);
      const shown = [...el.querySelectorAll('.row')].filter((r) => y(r) >= el.scrollTop - 1).sort((a, b) => y(a) - y(b));
      const first = shown.findIndex((r) => r.classList.contains('line'));
      return first >= 0 && shown[first].dataset.cursor === cursor && shown.slice(0, first).every((r) => r.classList.contains('marker'));
    }, expected.cursor, { timeout: 15_000 });
  });

  test('a rename while watching: the lines go on, the header and the address follow', async () => {
    const w = world();
    await serve(w);
    const eve = w.addUser('eve', 'student');
    const box = w.run('eve', `${World.gate}i=1; while [ -e /tmp/go ]; do echo "tick $i"; i=$((i+1)); sleep 0.2; done; sleep 300`);
    const page = await newPage(w);
    await logIn(page, eve);
    await page.goto(`${w.url}/c/${box}`);
    await page.getByTestId('stream-state').filter({ hasText: 'running' }).waitFor();
    w.open(box);
    await atLeast(page, 3);
    const renamed = `${box}-renamed`;
    w.docker('rename', box, renamed);
    w.containers.push(renamed);
    await page.getByTestId('viewer-name').filter({ hasText: new RegExp(`^${renamed}$`) }).waitFor({ timeout: 15_000 });
    await page.getByTestId('note').filter({ hasText: `container renamed to ${renamed}` }).waitFor();
    assert.equal(new URL(page.url()).pathname, `/c/${renamed}`);
    // Lines keep coming after the rename.
    const n = Number.parseInt(await page.getByTestId('line-count').textContent(), 10);
    await atLeast(page, n + 3);
    assert.deepEqual(page.errors, []);
  });

  test('permalinks, a history search whose hit opens its line, and the container\'s bundle', async () => {
    const w = world();
    await serve(w);
    const dan = w.addUser('dan', 'student');
    const cookie = await w.login(dan.name, dan.password);
    const box = w.run('dan', `${World.gate}awk 'BEGIN { for (i = 1; i <= 3000; i++) { if (i == 1234) print "line " i " needle"; else print "line " i } }'; sleep 300`);
    await recorded(w, cookie, box, 0);
    w.open(box);
    const all = await recorded(w, cookie, box, 3000);
    assert.equal(all.total, 3000);
    const head = (await api(w, cookie, `/api/history/${box}/lines?head=true&limit=5000`)).body;
    const target = head.lines[99];
    assert.equal(target.text, 'line 100');

    // A line's address opens the viewer there, the line highlighted.
    const page = await newPage(w);
    await logIn(page, dan);
    await page.goto(`${w.url}/c/${box}?at=${target.cursor}`);
    const lit = page.locator('.row.line.highlight');
    await lit.waitFor();
    assert.equal(await lit.locator('.text').textContent(), 'line 100');
    const [view, row] = [await page.getByTestId('log').boundingBox(), await lit.boundingBox()];
    assert.ok(row.y >= view.y && row.y + row.height <= view.y + view.height, 'the line is in view');
    await page.getByTestId('not-live').waitFor();
    await page.screenshot({ path: join(SHOTS, 'history-permalink.png') });

    // Picking another line's link puts its address in the address bar.
    const other = page.locator('.row.line').filter({ has: page.locator('.text', { hasText: /^line 110$/ }) });
    await other.hover();
    await other.getByRole('link', { name: 'Link to this line' }).click();
    await page.waitForFunction(() => document.querySelector('.row.line.highlight .text')?.textContent === 'line 110');
    const url = new URL(page.url());
    assert.equal(url.pathname, `/c/${box}`);
    assert.equal(url.searchParams.get('at'), head.lines[109].cursor);

    // Back to live, then a search over the whole history.
    await page.getByRole('button', { name: 'Live' }).click();
    await page.waitForFunction(() => !document.querySelector('[data-testid="not-live"]'));
    await page.getByPlaceholder('Search…').fill('needle');
    await page.getByRole('button', { name: 'Search history' }).click();
    const results = page.getByTestId('history-search');
    await results.getByText('line 1234 needle').waitFor();
    assert.equal(await results.locator('tbody tr').count(), 1);
    await page.screenshot({ path: join(SHOTS, 'history-search.png') });
    await results.locator('tbody tr').first().getByRole('link').click();
    await page.waitForFunction(() => document.querySelector('.row.line.highlight .text')?.textContent?.startsWith('line 1234'));
    assert.equal(new URL(page.url()).searchParams.get('at'), head.lines[1233].cursor);

    // "Full log" is the container's history bundle.
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 30_000 }),
      page.getByRole('link', { name: 'Full log' }).click(),
    ]);
    const bundle = await unzipDownload(w, download, 'one');
    assert.equal(bundle.manifest.containers.length, 1);
    assert.equal(bundle.manifest.containers[0].name, box);
    assert.equal(bundle.manifest.containers[0].lines, 3000);
    checkBundle(bundle);
    assert.deepEqual(page.errors, []);
  });

  test('instructors search the class\'s history, follow a hit, and download the class\'s and a student\'s bundles', async () => {
    const w = world();
    await serve(w);
    const prof = w.addUser('prof', 'instructor');
    const boxes = ['amy', 'ben'].map((u, k) => w.run(u,
      `awk 'BEGIN { for (i = 1; i <= 2000; i++) { if (i == ${700 + k}) print "bind: address already in use"; else print "GET /x/" i " 200" } }'; exit ${k}`));
    const cookie = await w.login(prof.name, prof.password);
    for (const box of boxes) await recorded(w, cookie, box, 2000, { state: 'exited' });

    const page = await newPage(w);
    await logIn(page, prof);
    await page.getByRole('heading', { name: 'Class history' }).waitFor();
    await page.getByPlaceholder('Search every student\'s history…').fill('address already in use');
    await page.getByRole('button', { name: 'Search history' }).click();
    const results = page.getByTestId('history-search');
    await results.locator('tbody tr').nth(1).waitFor();
    const table = await results.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
    assert.deepEqual(table.map((r) => [r[0], r[1], r[3]]).sort(), [
      ['amy', boxes[0], 'bind: address already in use'],
      ['ben', boxes[1], 'bind: address already in use'],
    ]);
    await page.screenshot({ path: join(SHOTS, 'dashboard-history.png') });

    // The class's bundle, then one student's.
    const [all] = await Promise.all([
      page.waitForEvent('download', { timeout: 30_000 }),
      page.getByRole('link', { name: 'Download class history' }).click(),
    ]);
    const classBundle = await unzipDownload(w, all, 'class');
    assert.deepEqual(classBundle.manifest.containers.map((c) => c.owner).sort(), ['amy', 'ben']);
    checkBundle(classBundle);
    await page.getByRole('heading', { name: 'ben' }).waitFor({ timeout: 15_000 });
    const [ben] = await Promise.all([
      page.waitForEvent('download', { timeout: 30_000 }),
      page.getByRole('link', { name: 'Download ben\'s history' }).click(),
    ]);
    const benBundle = await unzipDownload(w, ben, 'ben');
    assert.deepEqual(benBundle.manifest.containers.map((c) => c.name), [boxes[1]]);
    checkBundle(benBundle);
    assert.deepEqual(readdirSync(join(benBundle.dir, 'ben')).length, 1);

    // A hit opens its line in the student's container.
    await results.locator('tbody tr').filter({ hasText: boxes[1] }).getByRole('link').click();
    const lit = page.locator('.row.line.highlight');
    await lit.waitFor();
    assert.equal(await lit.locator('.text').textContent(), 'bind: address already in use');
    await page.getByTestId('viewer-name').filter({ hasText: boxes[1] }).waitFor();
    assert.equal(await page.getByTestId('viewer-owner').textContent(), 'ben');
    assert.deepEqual(page.errors, []);
  });
});

// School sign-in: a real OpenID provider (panva's oidc-provider, its own
// login and consent forms) on loopback, and Chromium going through them.

const GROUPS = `
[[group]]
name = "net101-staff"
role = "instructor"
course = "NET101"

[[group]]
name = "net101-students"
role = "student"
course = "NET101"
`;

/**
 * Starts a provider with `users` ({ login: { username, groups } }) and a
 * labtail signing in against it, serving the web app. labtail's port is
 * fixed first: the redirect URL names it.
 */
async function schoolWorld(users, extra = []) {
  const w = world();
  w.url = `http://127.0.0.1:${await freePort()}`;
  const client = { id: `labtail-${w.id}`, secret: `secret-${w.id}`, redirect: `${w.url}/api/oidc/callback` };
  writeFileSync(`${w.dataDir}/groups.toml`, GROUPS);
  writeFileSync(`${w.dataDir}/secret`, `${client.secret}\n`);
  const idp = new RealProvider({ port: await freePort(), client, users });
  providers.push(idp);
  await idp.start();
  await serve(w, ['--oidc-issuer', idp.issuer, '--oidc-client-id', client.id,
    '--oidc-client-secret-file', `${w.dataDir}/secret`, '--oidc-redirect-url', client.redirect,
    '--oidc-groups-file', `${w.dataDir}/groups.toml`, '--oidc-display-name', 'Sign in with Test U',
    '--oidc-scopes', 'profile,groups', ...extra]);
  return { w, idp };
}

/** A page whose requests stay on this machine (the provider's pages load a web font). */
async function localPage(w) {
  const page = await newPage(w);
  await page.context().route((url) => !['127.0.0.1', 'localhost'].includes(url.hostname), (r) => r.abort());
  return page;
}

/**
 * From labtail's login page through the provider's own forms: its login
 * form (any password; `login` is the account), then its consent form when
 * it asks. Resolves once the browser is back at labtail (the app or the
 * server's error page).
 */
async function schoolSignIn(page, login) {
  const w = page.world;
  await page.getByRole('button', { name: 'Sign in with Test U' }).click();
  await page.locator('input[name="login"]').waitFor({ timeout: 30_000 });
  assert.ok(page.url().startsWith(`http://127.0.0.1:`) && !page.url().startsWith(w.url), `at the provider: ${page.url()}`);
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  const consent = page.getByRole('button', { name: 'Continue' });
  const back = page.getByTestId('connection').or(page.locator('#code'));
  await consent.or(back).first().waitFor({ timeout: 30_000 });
  if (await consent.isVisible()) await consent.click();
  await back.first().waitFor({ timeout: 30_000 });
  assert.ok(page.url().startsWith(w.url), `back at labtail: ${page.url()}`);
}

describe('school sign-in', () => {
  test('--local-login off: a student and an instructor sign in through the provider\'s forms; unmapped groups are refused', async () => {
    const { w } = await schoolWorld({
      'amy-at-school': { username: 'amy', groups: ['net101-students'] },
      'tess-at-school': { username: 'tess', groups: ['net101-staff'] },
      'nobody-at-school': { username: 'nobody', groups: ['alumni'] },
    }, ['--local-login', 'off']);
    const own = w.run('amy', 'i=1; while true; do echo "amy tick $i"; i=$((i+1)); sleep 0.2; done');
    // bob is in NET101 without school sign-in (a roster).
    assert.equal(w.cli(['course', 'add', 'NET101']).code, 0);
    writeFileSync(`${w.dataDir}/roster.csv`, 'username,role\nbob,student\n');
    const enrol = w.cli(['course', 'enrol', 'NET101', '--csv', `${w.dataDir}/roster.csv`, '--passwords-out', `${w.dataDir}/passwords`]);
    assert.equal(enrol.code, 0, enrol.stderr);
    const bobs = w.run('bob', 'i=1; while true; do echo "bob tick $i"; i=$((i+1)); sleep 0.2; done');
    // Not enrolled anywhere: no instructor of a course sees it.
    const stranger = w.run('zoe', 'echo zoe-only; sleep 300');

    // The login page: the school's button, and no password form.
    const amy = await localPage(w);
    await amy.goto(w.url);
    await amy.getByRole('button', { name: 'Sign in with Test U' }).waitFor({ timeout: 15_000 });
    assert.equal(await amy.getByLabel('Password').count(), 0, 'no password form with --local-login off');
    assert.equal(await amy.getByRole('button', { name: 'Log in' }).count(), 0);
    await amy.screenshot({ path: join(SHOTS, 'login-school.png') });

    // Without the options (the request fails) the password form shows; the
    // server's refusal says that password login is off.
    const blind = await localPage(w);
    await blind.route('**/api/login-options', (r) => r.abort());
    await blind.goto(w.url);
    await blind.getByLabel('User name').fill('amy');
    await blind.getByLabel('Password').fill('whatever');
    await blind.getByRole('button', { name: 'Log in' }).click();
    await blind.getByTestId('login-refused').filter({ hasText: 'Password login is turned off on this server' }).waitFor({ timeout: 15_000 });
    await blind.context().close();

    // A student: back on the viewer, as a student of NET101, with their container.
    await schoolSignIn(amy, 'amy-at-school');
    await amy.getByTestId('connection').filter({ hasText: 'Live' }).waitFor({ timeout: 30_000 });
    assert.equal(await amy.getByTestId('who-name').textContent(), 'amy');
    assert.equal(await amy.getByTestId('who-role').textContent(), '(student)');
    assert.match(await amy.getByTestId('who-courses').textContent(), /NET101/);
    await amy.getByTestId(`card-${own}`).waitFor({ timeout: 15_000 });
    assert.equal(await amy.getByTestId(`card-${stranger}`).count(), 0);
    assert.equal(await amy.getByRole('link', { name: 'Dashboard' }).count(), 0);
    await amy.screenshot({ path: join(SHOTS, 'school-student.png') });
    assert.deepEqual(amy.errors, []);

    // An instructor of NET101: the dashboard, its course filter offering NET101.
    const tess = await localPage(w);
    await tess.goto(w.url);
    await schoolSignIn(tess, 'tess-at-school');
    await tess.getByRole('heading', { name: 'Dashboard' }).waitFor({ timeout: 30_000 });
    assert.equal(await tess.getByTestId('who-name').textContent(), 'tess');
    assert.equal(await tess.getByTestId('who-role').textContent(), '(instructor)');
    const filter = tess.getByTestId('course-filter');
    await filter.waitFor();
    assert.deepEqual(await filter.locator('option').allTextContents(), ['All courses', 'NET101']);
    await tess.getByTestId(`dash-${own}`).waitFor({ timeout: 15_000 });
    await filter.selectOption('NET101');
    assert.equal(new URL(tess.url()).searchParams.get('course'), 'NET101');
    await tess.getByTestId('dash-totals').filter({ hasText: /in NET101/ }).waitFor();
    await tess.getByTestId(`dash-${own}`).waitFor();
    assert.equal(await tess.getByTestId(`dash-${stranger}`).count(), 0, 'a student of no course of hers');
    await tess.screenshot({ path: join(SHOTS, 'school-instructor-dashboard.png') });
    // The filter is in the address: a reload keeps it.
    await tess.reload();
    await tess.getByTestId(`dash-${own}`).waitFor({ timeout: 30_000 });
    assert.equal(await tess.getByTestId('course-filter').inputValue(), 'NET101');

    // She follows amy's log, and amy's and bob's merged in another tab; amy
    // leaves the course: the view of her container ends, for good, and the
    // merged view drops it and goes on with bob's.
    await tess.getByTestId(`dash-${bobs}`).waitFor({ timeout: 15_000 });
    const merged = await tess.context().newPage();
    merged.errors = [];
    merged.on('pageerror', (e) => merged.errors.push(e.message));
    await merged.goto(`${w.url}/merged?c=${own},${bobs}`);
    await tess.getByRole('link', { name: own }).click();
    await tess.getByTestId('stream-state').filter({ hasText: 'running' }).waitFor({ timeout: 30_000 });
    await atLeast(tess, 3);
    await merged.locator('.row.line .src').filter({ hasText: own }).first().waitFor({ timeout: 30_000 });
    await merged.locator('.row.line .src').filter({ hasText: bobs }).first().waitFor({ timeout: 30_000 });
    const dropped = w.cli(['course', 'drop', 'NET101', 'amy']);
    assert.equal(dropped.code, 0, dropped.stderr);
    await tess.getByTestId('revoked').filter({ hasText: 'You no longer have access to this container (course membership changed)' })
      .waitFor({ timeout: 30_000 });
    await tess.getByTestId('note').filter({ hasText: 'You no longer have access to this container' }).waitFor();
    assert.equal(await tess.getByTestId('stream-state').textContent(), 'no access');
    await merged.getByTestId('revoked').filter({ hasText: `You no longer have access to ${own} (course membership changed)` })
      .waitFor({ timeout: 30_000 });
    await merged.getByTestId('note').filter({ hasText: `${own}: you no longer have access` }).waitFor();
    const afterDrop = Number.parseInt(await merged.getByTestId('line-count').textContent(), 10);
    await atLeast(merged, afterDrop + 5);
    assert.deepEqual([...new Set(await merged.locator('.row.line .src').allTextContents())], [bobs]);
    await merged.screenshot({ path: join(SHOTS, 'school-revoked-merged.png') });
    assert.deepEqual(merged.errors, []);
    // Nothing of it is asked again, not even when the socket reconnects
    // (labtail restarted): no start of the watch, no history.
    const held = await tess.getByTestId('line-count').textContent();
    const last = Number((await tess.locator('.row.line .text').last().textContent()).match(/^amy tick (\d+)$/)[1]);
    const asked = [];
    tess.on('websocket', (ws) => ws.on('framesent', (f) => { if (String(f.payload).includes('start-container-logs')) asked.push(String(f.payload)); }));
    tess.on('request', (r) => {
      if ((r.postData() ?? '').includes('start-container-logs') || r.url().includes('/api/history/')) asked.push(r.url());
    });
    const reconnected = tess.waitForEvent('websocket', { timeout: 60_000 });
    await w.restart();
    await reconnected;
    await tess.getByTestId('connection').filter({ hasText: 'Live' }).waitFor({ timeout: 30_000 });
    // amy's container went on printing meanwhile: she sees it, tess does not.
    await amy.goto(`${w.url}/c/${own}`);
    await amy.locator('.row.line .text').filter({ hasText: new RegExp(`^amy tick ${last + 10}$`) }).waitFor({ timeout: 30_000 });
    assert.equal(await tess.getByTestId('line-count').textContent(), held);
    assert.deepEqual(asked, []);
    await tess.getByTestId('revoked').waitFor();
    assert.equal(await tess.getByRole('button', { name: /Jump to latest/ }).count(), 0);
    await tess.screenshot({ path: join(SHOTS, 'school-revoked.png') });
    assert.deepEqual(tess.errors, []);

    // Groups that map to nothing: the server's own page, and no session.
    const nobody = await localPage(w);
    await nobody.goto(w.url);
    await schoolSignIn(nobody, 'nobody-at-school');
    assert.equal(await nobody.locator('#code').textContent(), 'oidc_unmapped');
    await nobody.getByRole('heading', { name: 'Sign-in failed' }).waitFor();
    await nobody.screenshot({ path: join(SHOTS, 'school-unmapped.png') });
    assert.equal((await nobody.request.get(`${w.url}/api/me`)).status(), 401);
    await nobody.getByRole('link', { name: 'Back to labtail' }).click();
    await nobody.getByRole('button', { name: 'Sign in with Test U' }).waitFor({ timeout: 15_000 });
    assert.equal(await nobody.getByTestId('connection').count(), 0, 'not logged in');
    assert.deepEqual(nobody.errors, []);
  });

  test('with local login on, the page offers both; an admin gets the instructors\' pages', async () => {
    const { w } = await schoolWorld({});
    const root = w.addUser('root', 'admin');
    const box = w.run('amy', 'echo hello; sleep 300');
    const page = await localPage(w);
    await page.goto(w.url);
    await page.getByRole('button', { name: 'Sign in with Test U' }).waitFor({ timeout: 15_000 });
    await page.getByText('or with a labtail password').waitFor();
    await page.screenshot({ path: join(SHOTS, 'login-both.png') });
    await logIn(page, root);
    assert.equal(await page.getByTestId('who-role').textContent(), '(admin)');
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    await page.getByRole('link', { name: 'Dashboard' }).waitFor();
    await page.getByTestId(`dash-${box}`).waitFor({ timeout: 15_000 });
    await page.getByRole('heading', { name: 'Class history' }).waitFor();
    assert.deepEqual(page.errors, []);
  });
});

// Attention (#28): who needs help now, on the instructors' dashboard; raised
// hands from the students' viewer, answered there; labs' rules and
// checkpoints edited in the app, each student's checklist.

/** The viewer's row of a line (by its whole text). */
const rowOf = (page, text) => page.locator('.row.line', { has: page.locator('.text', { hasText: new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }) });

/** The dashboard's attention entry of a container and signal. */
const entryOf = (page, container, signal) => page.locator(`.attention-entry[data-container="${container}"][data-signal="${signal}"]`);

describe('attention', () => {
  test('raise-a-hand round trip: a student asks about a line, the instructor sees it with that line and answers, the student reads the answer', async () => {
    const w = world();
    await serve(w);
    const ann = w.addUser('ann', 'student');
    const tea = w.addUser('tea', 'instructor');
    const box = w.run('ann', 'for i in 1 2 3 4 5 6 7; do echo "step $i"; done; '
      + 'echo "ERROR: cannot bind port 80"; echo "WARN disk almost full"; echo \'{"level":"debug","msg":"x"}\'; sleep 600');

    // ann opens her container: every line, the levelled ones marked.
    const student = await newPage(w);
    await logIn(student, ann);
    await student.goto(`${w.url}/c/${box}`);
    await lineCount(student, 10);
    assert.equal(await rowOf(student, 'ERROR: cannot bind port 80').getAttribute('data-level'), 'error');
    assert.equal(await rowOf(student, 'ERROR: cannot bind port 80').locator('.lvl').textContent(), 'ERR');
    assert.equal(await rowOf(student, 'WARN disk almost full').getAttribute('data-level'), 'warn');
    assert.equal(await rowOf(student, 'step 4').getAttribute('data-level'), null);
    // The level filter: warnings and errors, errors only, all again.
    await student.getByTestId('level-filter').selectOption('warn');
    await student.waitForFunction(() => document.querySelectorAll('.row.line').length === 2);
    assert.deepEqual(await student.locator('.row.line .text').allTextContents(), ['ERROR: cannot bind port 80', 'WARN disk almost full']);
    await student.getByTestId('level-filter').selectOption('error');
    await student.waitForFunction(() => document.querySelectorAll('.row.line').length === 1);
    assert.deepEqual(await student.locator('.row.line .text').allTextContents(), ['ERROR: cannot bind port 80']);
    await student.getByTestId('level-filter').selectOption('all');
    await student.waitForFunction(() => document.querySelectorAll('.row.line').length === 10);

    // She selects "step 4" (a click on the line) and asks for help about it.
    await student.getByTestId('hand-hint').waitFor({ timeout: 30_000 });
    const step4 = rowOf(student, 'step 4');
    const cursor = await step4.getAttribute('data-cursor');
    await step4.locator('.text').click();
    await student.getByTestId('selection-count').filter({ hasText: '1 line selected' }).waitFor();
    assert.equal(await step4.getAttribute('data-selected'), 'true');
    // A shift-click makes a range; a plain click one line again.
    await rowOf(student, 'step 6').locator('.text').click({ modifiers: ['Shift'] });
    await student.getByTestId('selection-count').filter({ hasText: '3 lines selected' }).waitFor();
    await step4.locator('.text').click();
    await student.getByTestId('selection-count').filter({ hasText: '1 line selected' }).waitFor();
    await student.getByRole('button', { name: 'Ask for help' }).click();
    await student.getByLabel('What do you need help with?').fill('why does it stop here?');
    await student.screenshot({ path: join(SHOTS, 'attention-ask.png') });
    await student.getByRole('button', { name: 'Send to an instructor' }).click();
    const raised = student.getByTestId('hand-raised');
    await raised.waitFor({ timeout: 30_000 });
    const handId = Number(await student.locator('.hand-notice').getAttribute('data-hand-id'));
    assert.ok(handId > 0);
    assert.match(await student.locator('.hand-notice').textContent(), /You asked: “why does it stop here\?” about step 4/);
    // The line she asked about stays marked; the selection is done.
    assert.equal(await student.locator('.row.line.highlight .text').textContent(), 'step 4');
    assert.equal(await student.getByTestId('selection-bar').count(), 0);

    // The instructor's dashboard: the hand, its message, that line among its neighbours.
    const teacher = await newPage(w);
    await logIn(teacher, tea);
    await teacher.getByRole('heading', { name: 'Needs attention' }).waitFor({ timeout: 15_000 });
    const hand = entryOf(teacher, box, 'hand');
    await hand.waitFor({ timeout: 30_000 });
    assert.equal(await hand.getAttribute('data-testid'), `attention-${handId}`);
    assert.equal(await hand.getByTestId('entry-severity').textContent(), 'warning');
    assert.equal(await hand.getByTestId('entry-owner').textContent(), 'ann');
    assert.equal(await hand.getByTestId('hand-message').textContent(), 'why does it stop here?');
    const evidence = await hand.locator('.evidence-line .text').allTextContents();
    assert.ok(['step 3', 'step 4', 'step 5'].every((t) => evidence.includes(t)), JSON.stringify(evidence));
    const asked = hand.locator('.evidence-line.evidence-hand');
    assert.equal(await asked.locator('.text').textContent(), 'step 4');
    assert.equal(await asked.getAttribute('data-cursor'), cursor);
    assert.equal(await asked.locator('a').getAttribute('href'), `/c/${box}?at=${cursor}`);
    await teacher.screenshot({ path: join(SHOTS, 'attention-hand.png') });

    // She answers with the quick answer; ann's viewer shows it at once.
    await hand.getByRole('button', { name: 'On my way' }).click();
    await hand.getByTestId('hand-answered').filter({ hasText: 'Answered: “On my way”' }).waitFor({ timeout: 30_000 });
    const answer = student.getByTestId('hand-answer');
    await answer.waitFor({ timeout: 30_000 });
    assert.equal(await answer.textContent(), 'tea: On my way');
    await student.screenshot({ path: join(SHOTS, 'attention-answer.png') });
    // A reload keeps it: the server lists her hands with their answers.
    await student.reload();
    await student.getByTestId('hand-answer').filter({ hasText: 'tea: On my way' }).waitFor({ timeout: 30_000 });

    // The evidence opens the student's log at that line.
    await asked.locator('a').click();
    await teacher.getByTestId('viewer-name').filter({ hasText: box }).waitFor();
    const lit = teacher.locator('.row.line.highlight');
    await lit.waitFor({ timeout: 30_000 });
    assert.equal(await lit.locator('.text').textContent(), 'step 4');
    // Not her container: no line is selected to ask about, no hint offers it.
    await lit.locator('.text').click();
    assert.equal(await teacher.getByTestId('selection-bar').count(), 0);
    assert.equal(await teacher.getByTestId('hand-hint').count(), 0);
    assert.deepEqual(student.errors, []);
    assert.deepEqual(teacher.errors, []);
  });

  test('a crashed container shows in the attention panel with its line; Acknowledge makes it acknowledged for good', async () => {
    const w = world();
    await serve(w);
    const tea = w.addUser('tea', 'instructor');
    const box = w.run('bob', `${World.gate}echo "segfault coming" >&2; exit 3`);
    const calm = w.run('cid', 'echo "all good"; sleep 600');
    const page = await newPage(w);
    // The browser's notifications, recorded (headless Chromium shows none);
    // the permission the user gives is kept like a browser keeps it.
    await page.addInitScript(() => {
      window.__notes = [];
      window.Notification = class {
        static get permission() { return localStorage.getItem('test.permission') ?? 'default'; }
        static async requestPermission() { localStorage.setItem('test.permission', 'granted'); return 'granted'; }
        constructor(title, opts) { window.__notes.push({ title, ...opts }); }
        close() {}
      };
    });
    await logIn(page, tea);
    await page.getByTestId(`dash-${box}`).waitFor({ timeout: 30_000 });
    await page.getByTestId('attention-empty').waitFor();
    // Notifications on (off until then); the tab goes to the background.
    const toggle = page.getByTestId('notify-toggle');
    assert.equal(await toggle.isChecked(), false);
    await toggle.check();
    assert.equal(await page.evaluate(() => localStorage.getItem('labtail.notify')), 'on');
    await page.evaluate(() => Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' }));
    w.open(box);

    const crash = entryOf(page, box, 'crashed');
    await crash.waitFor({ timeout: 90_000 });
    assert.equal(await crash.getAttribute('data-state'), 'open');
    assert.equal(await crash.getByTestId('entry-severity').textContent(), 'error');
    assert.equal(await crash.getByTestId('entry-signal').textContent(), 'Crashed');
    assert.match(await crash.getByTestId('entry-title').textContent(), /3/);
    assert.equal(await crash.getByTestId('entry-owner').textContent(), 'bob');
    assert.ok((await crash.locator('.evidence-line .text').allTextContents()).includes('segfault coming'));
    await page.getByTestId('attention-open-count').filter({ hasText: /^1$/ }).waitFor();
    // Notified once, of who and what, never of a log line.
    await page.waitForFunction(() => window.__notes.length > 0, null, { timeout: 15_000 });
    const notes = await page.evaluate(() => window.__notes);
    assert.equal(notes.length, 1, JSON.stringify(notes));
    assert.equal(notes[0].title, '[error] bob: Crashed');
    assert.match(notes[0].body, new RegExp(`^exited with code 3 \\(${box}\\)$`));
    assert.ok(!JSON.stringify(notes).includes('segfault'));
    await page.evaluate(() => Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' }));
    // Its row is marked; the calm one is not.
    await page.getByTestId(`dash-${box}`).getByTestId('row-attention').waitFor();
    assert.equal(await page.getByTestId(`dash-${calm}`).getByTestId('row-attention').count(), 0);
    // The row says how it ended (dockerd tells `die` before it marks the
    // container stopped: the dashboard lists again a moment later).
    await page.getByTestId(`dash-${box}`).getByText('code 3').waitFor({ timeout: 15_000 });
    await page.screenshot({ path: join(SHOTS, 'attention-crashed.png') });

    await crash.getByRole('button', { name: 'Acknowledge' }).click();
    await page.locator(`.attention-entry[data-container="${box}"][data-signal="crashed"][data-state="acknowledged"]`).waitFor({ timeout: 30_000 });
    await crash.getByTestId('entry-acked').waitFor();
    assert.equal(await crash.getByRole('button', { name: 'Acknowledge' }).count(), 0);
    // Folded: the lines show on demand.
    assert.equal(await crash.locator('.evidence').count(), 0);
    await crash.getByRole('button', { name: 'Show' }).click();
    await crash.locator('.evidence').waitFor();
    await page.getByTestId('attention-open-count').filter({ hasText: /^0$/ }).waitFor();
    await page.screenshot({ path: join(SHOTS, 'attention-acknowledged.png') });
    // The server has it so: after a reload, still acknowledged.
    await page.reload();
    await page.locator(`.attention-entry[data-container="${box}"][data-signal="crashed"][data-state="acknowledged"]`).waitFor({ timeout: 30_000 });
    // The toggle is remembered; the list as the page opened tells nothing new.
    assert.equal(await page.getByTestId('notify-toggle').isChecked(), true);
    assert.deepEqual(await page.evaluate(() => window.__notes), []);
    assert.equal(await page.getByTestId(`dash-${box}`).getByTestId('row-attention').count(), 0);
    assert.deepEqual(page.errors, []);
  });

  test('labs: an instructor defines rules and checkpoints (the server\'s refusal shown), and the checklists follow', async () => {
    const w = world();
    await serve(w);
    const tea = w.addUser('tea', 'instructor');
    const ann = w.addUser('ann', 'student');
    const box = w.run('ann', 'echo building; echo "tests passed"; sleep 600', ['--label', 'labtail.lab=net']);
    const cookie = await w.login(tea.name, tea.password);
    await recorded(w, cookie, box, 2);

    const page = await newPage(w);
    await logIn(page, tea);
    await page.getByRole('link', { name: 'Labs', exact: true }).click();
    await page.getByRole('heading', { name: 'Labs' }).waitFor();
    // Its containers name a lab nobody defined yet.
    await page.getByTestId('labs-undefined').getByRole('link', { name: 'net' }).click();
    await page.getByRole('heading', { name: /Lab net/ }).waitFor();
    await page.getByRole('button', { name: 'Add rule' }).click();
    await page.getByLabel('Rule 1 pattern').fill('a(b');
    await page.getByLabel('Rule 1 title').fill('broken');
    await page.getByRole('button', { name: 'Add checkpoint' }).click();
    await page.getByLabel('Checkpoint 1 name').fill('tests');
    await page.getByLabel('Checkpoint 1 pattern').fill('tests passed');
    await page.getByRole('button', { name: 'Add checkpoint' }).click();
    await page.getByLabel('Checkpoint 2 name').fill('deployed');
    await page.getByLabel('Checkpoint 2 pattern').fill('deployed to \\w+');
    await page.getByRole('button', { name: 'Save lab' }).click();
    // The server's word, as it says it: the rule, its title, the position.
    const refused = page.getByTestId('lab-error');
    await refused.waitFor({ timeout: 15_000 });
    assert.match(await refused.textContent(), /rule 1.*broken.*position/i);
    await page.screenshot({ path: join(SHOTS, 'labs-refused.png') });
    assert.equal((await api(w, cookie, '/api/labs')).body.length, 0, 'nothing kept');
    await page.getByLabel('Rule 1 pattern').fill('Segmentation fault');
    await page.getByRole('button', { name: 'Save lab' }).click();
    await page.getByTestId('lab-saved').waitFor({ timeout: 15_000 });
    assert.equal(await page.getByTestId('lab-error').count(), 0);
    assert.deepEqual((await api(w, cookie, '/api/labs/net')).body, {
      name: 'net',
      rule: [{ pattern: 'Segmentation fault', severity: 'warning', title: 'broken' }],
      checkpoint: [{ name: 'tests', pattern: 'tests passed' }, { name: 'deployed', pattern: 'deployed to \\w+' }],
    });
    await page.screenshot({ path: join(SHOTS, 'labs-editor.png') });

    // The list: the lab, its gradebook.
    await page.getByRole('link', { name: 'All labs' }).click();
    const row = page.getByTestId('lab-net');
    await row.waitFor();
    assert.equal(await row.getByRole('link', { name: 'Gradebook of net (CSV)' }).getAttribute('href'), '/api/labs/net/gradebook.csv');
    const [book] = await Promise.all([
      page.waitForEvent('download', { timeout: 30_000 }),
      row.getByRole('link', { name: 'Gradebook of net (CSV)' }).click(),
    ]);
    const csv = readFileSync(await book.path(), 'utf8').trim().split(/\r?\n/);
    assert.equal(csv[0], 'student,lab,checkpoint,reached_at,cursor');
    assert.ok(csv.includes('ann,net,deployed,,'), csv.join('\n'));

    // The dashboard's row: "tests" found in what the container already wrote.
    await page.getByRole('link', { name: 'Dashboard', exact: true }).click();
    const list = page.getByTestId(`dash-${box}`).getByTestId(`checklist-${box}`);
    await list.getByTestId('checklist-count').filter({ hasText: '1/2' }).waitFor({ timeout: 60_000 });
    await list.locator('summary').click();
    assert.deepEqual(await list.getByTestId('checkpoint').evaluateAll((lis) => lis.map((li) => [li.className, li.querySelector('.checkpoint-name').textContent])),
      [['reached', 'tests'], ['pending', 'deployed']]);
    await page.screenshot({ path: join(SHOTS, 'dashboard-checklist.png') });
    // The reached one links to its line.
    await list.getByTestId('checkpoint').first().getByRole('link').click();
    const lit = page.locator('.row.line.highlight');
    await lit.waitFor({ timeout: 30_000 });
    assert.equal(await lit.locator('.text').textContent(), 'tests passed');

    // ann sees her own checklist, on her list and in her viewer.
    const student = await newPage(w);
    await logIn(student, ann);
    const card = student.getByTestId(`card-${box}`);
    await card.getByTestId('checklist-count').filter({ hasText: '1/2' }).waitFor({ timeout: 30_000 });
    await card.getByRole('link', { name: box }).click();
    await student.getByTestId('viewer-head').getByTestId('checklist-count').filter({ hasText: '1/2' }).waitFor({ timeout: 30_000 });
    assert.deepEqual(page.errors, []);
    assert.deepEqual(student.errors, []);
  });
});

// The web app in a real browser (Debian's Chromium through playwright-core)
// against a real labtail and a real Docker engine. Screenshots of every page
// go to test-output/screenshots/.

import { test, before, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { World, deadline, range } from '../lib/harness.mjs';

const ROOT = resolve(import.meta.dirname, '../../..');
const WEB = process.env.LABTAIL_WEB_DIR ?? join(ROOT, 'web', 'dist');
const SHOTS = join(ROOT, 'test-output', 'screenshots');
const CHROMIUM = process.env.LABTAIL_CHROMIUM ?? '/usr/bin/chromium';

let browser;
const worlds = [];
const world = () => { const w = new World(); worlds.push(w); return w; };

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
afterEach(async () => { for (const w of worlds.splice(0)) await w.cleanup(); });

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
    assert.equal(await page.locator('.log img, .log script, .log a').count(), 0);
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

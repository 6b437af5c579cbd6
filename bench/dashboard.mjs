// The instructors' dashboard with a whole lab of containers, in Chromium:
// how long until it shows every row, whether it keeps updating each second,
// and what it costs the server. Not a test (nothing asserted): it prints its
// figures, which docs/benchmarks.md quotes.
//
//   LABTAIL_BIN=target/release/labtail node bench/dashboard.mjs [containers] [students] [seconds]
//
// `seconds` (default 20) is each measuring window; CI runs it tiny
// (`5 2 2`) so the script keeps working.
//
// Needs what the e2e tests need (Docker, the test image, Chromium, the built
// web app, `npm ci` in tests/e2e). Each container prints one line a second.

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..');
const { World, IMAGE } = await import(join(ROOT, 'tests/e2e/lib/harness.mjs'));
const { chromium } = await import(join(ROOT, 'tests/e2e/node_modules/playwright-core/index.mjs'));

const N = Number(process.argv[2] ?? 500);
const STUDENTS = Number(process.argv[3] ?? 30);
const WEB = process.env.LABTAIL_WEB_DIR ?? join(ROOT, 'web', 'dist');
const CHROMIUM = process.env.LABTAIL_CHROMIUM ?? '/usr/bin/chromium';
const SECONDS = Number(process.argv[4] ?? 20);
const RELOADS = 5;

/** `docker run -d`, several at a time. */
async function runAll(w, names) {
  let next = 0;
  const one = async () => {
    while (next < names.length) {
      const [name, owner] = names[next++];
      await new Promise((res, rej) => {
        const p = spawn('docker', ['run', '-d', '--name', name, '--label', `${w.label}=${owner}`,
          '--label', 'labtail.lab=net', IMAGE, 'sh', '-c',
          'i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 1; done'], { stdio: 'ignore' });
        p.on('close', (code) => (code === 0 ? res() : rej(new Error(`docker run ${name}: ${code}`))));
      });
      w.containers.push(name);
    }
  };
  await Promise.all(Array.from({ length: 8 }, one));
}

/** CPU seconds (user + system) of a process so far. */
function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks (USER_HZ 100)
}

function rssMiB(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
  return m ? Number(m[1]) / 1024 : NaN;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const w = new World();
let browser;
try {
  await w.start(['--web-dir', WEB]);
  const tea = w.addUser('tea', 'instructor');
  const names = Array.from({ length: N }, (_, k) => [`dash-${w.id}-${k}`, `student${k % STUDENTS}`]);
  const t0 = Date.now();
  await runAll(w, names);
  console.log(`started ${N} containers of ${STUDENTS} students in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const cookie = await w.login(tea.name, tea.password);
  for (const end = Date.now() + 300_000; ;) {
    const list = await (await fetch(`${w.url}/api/containers`, { headers: { cookie } })).json();
    if (list.filter((c) => c.state === 'running').length >= N) break;
    if (Date.now() > end) throw new Error(`labtail lists ${list.length} of ${N} containers after 5 min`);
    await sleep(500);
  }
  // Let history catch up with every container before measuring.
  await sleep(SECONDS * 500);
  const pid = w.proc.pid;

  // The server with nobody on the dashboard, as the baseline.
  let c0 = cpuSeconds(pid);
  await sleep(SECONDS * 1000);
  const idle = (cpuSeconds(pid) - c0) / SECONDS;

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(w.url);
  await page.getByLabel('User name').fill(tea.name);
  await page.getByLabel('Password').fill(tea.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor({ timeout: 30_000 });

  // First paint, then every row, from the navigation's start (a reload).
  const loads = [];
  for (let r = 0; r < RELOADS; r++) {
    await page.reload();
    const rows = await page.waitForFunction((n) => {
      const k = document.querySelectorAll('tr[data-testid^="dash-"]').length;
      return k >= n ? performance.now() : false;
    }, N, { timeout: 60_000, polling: 'raf' });
    const fcp = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN);
    loads.push({ fcp, rows: await rows.jsonValue() });
  }

  // Updates: the dashboard's pushes over the window, their size, the page's
  // longest task, and the server's CPU meanwhile.
  const frames = [];
  page.on('websocket', (ws) => ws.on('framereceived', (f) => {
    const text = typeof f.payload === 'string' ? f.payload : f.payload.toString();
    if (text.startsWith('42["dashboard"')) frames.push({ at: Date.now(), bytes: text.length });
  }));
  await page.reload();
  await page.waitForFunction((n) => document.querySelectorAll('tr[data-testid^="dash-"]').length >= n, N, { timeout: 60_000 });
  await page.evaluate(() => {
    window.__longest = 0;
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longest = Math.max(window.__longest, e.duration); })
      .observe({ type: 'longtask', buffered: false });
  });
  c0 = cpuSeconds(pid);
  const f0 = frames.length;
  await sleep(SECONDS * 1000);
  const open = (cpuSeconds(pid) - c0) / SECONDS;
  const pushed = frames.slice(f0);
  const gaps = pushed.slice(1).map((f, i) => f.at - pushed[i].at);
  const longest = await page.evaluate(() => window.__longest);

  console.log(`\ndashboard with ${N} lab containers (${STUDENTS} students, 1 line/s each), ${RELOADS} loads:`);
  console.log(`  first contentful paint: median ${median(loads.map((l) => l.fcp)).toFixed(0)} ms, max ${Math.max(...loads.map((l) => l.fcp)).toFixed(0)} ms`);
  console.log(`  every row shown:        median ${median(loads.map((l) => l.rows)).toFixed(0)} ms, max ${Math.max(...loads.map((l) => l.rows)).toFixed(0)} ms`);
  console.log(`  updates: ${pushed.length} in ${SECONDS} s, interval median ${gaps.length ? median(gaps) : NaN} ms, max ${gaps.length ? Math.max(...gaps) : NaN} ms;`
    + ` ${(pushed.reduce((s, f) => s + f.bytes, 0) / Math.max(pushed.length, 1) / 1024).toFixed(0)} KiB each; ${longest > 0 ? `longest page task ${longest.toFixed(0)} ms` : 'no page task over 50 ms'}`);
  console.log(`  server CPU: ${(idle * 100).toFixed(1)} % of a core with nobody on the dashboard, ${(open * 100).toFixed(1)} % with it open`
    + ` (+${((open - idle) * 100).toFixed(1)} %); RSS ${rssMiB(pid).toFixed(0)} MiB`);
} finally {
  await browser?.close();
  // Ten at a time: `docker rm -f` of hundreds of names kills 50 at once, and
  // dockerd 20.10 then can deadlock in its network cleanup.
  for (let k = 0; k < w.containers.length; k += 10) {
    spawnSync('docker', ['rm', '-f', ...w.containers.slice(k, k + 10)], { stdio: 'ignore' });
  }
  w.containers = [];
  await w.cleanup();
}

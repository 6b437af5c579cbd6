// Lab history against the real labtail, a real Docker engine and real
// databases: every line a lab container wrote is kept after it is gone,
// whether anyone watched or not, through rotations, labtail crashes and a
// second node; reads, searches and replays answer only to those who may
// see the container.

import { test, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { World, ask, collect, texts, range, deadline, freshPostgres } from '../lib/harness.mjs';

const worlds = [];
const world = (opts) => { const w = new World(opts); worlds.push(w); return w; };
afterEach(async () => { for (const w of worlds.splice(0)) await w.cleanup(); });

/** GET an API path with a session cookie; resolves with {status, body}. */
async function api(w, cookie, path) {
  const res = await fetch(`${w.url}${path}`, { headers: { cookie } });
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, body: type.includes('json') ? await res.json() : await res.arrayBuffer() };
}

/** Every line of a container's history, read page by page from the oldest. */
async function wholeHistory(w, cookie, name) {
  const out = [];
  let page = (await api(w, cookie, `/api/history/${encodeURIComponent(name)}/lines?head=true&limit=5000`)).body;
  for (;;) {
    out.push(...page.lines);
    if (!page.moreAfter || page.lines.length === 0) return { lines: out, last: page };
    const after = encodeURIComponent(page.lines.at(-1).cursor);
    page = (await api(w, cookie, `/api/history/${encodeURIComponent(name)}/lines?after=${after}&limit=5000`)).body;
  }
}

/** Waits until history holds `n` lines of the container (and `removed` if asked). */
async function recorded(w, cookie, name, n, { removed = false, exited = false, ms = 60_000 } = {}) {
  return deadline((async () => {
    for (;;) {
      const r = await api(w, cookie, `/api/history/${encodeURIComponent(name)}/lines?limit=1`);
      // `exited`: its end noted too (after its last line: on the newest page).
      if (r.status === 200 && r.body.total >= n && (!exited || r.body.events.some((e) => e.kind === 'exited'))) {
        if (!removed) return r.body;
        const list = (await api(w, cookie, '/api/containers')).body;
        if (list.some((c) => c.name === name && c.state === 'removed')) return r.body;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
  })(), ms, `${n} lines of ${name} in history${exited ? ', exited' : ''}${removed ? ', removed' : ''}`);
}

const numbered = (n) => `i=1; while [ $i -le ${n} ]; do echo "line $i"; i=$((i+1)); done`;
const want = (n) => range(1, n).map((i) => `line ${i}`);

describe('recording', () => {
  test('nobody watching: a --rm container prints, exits, is removed; its history is whole', async () => {
    const w = world();
    await w.start();
    const ann = w.addUser('ann', 'student');
    const bob = w.addUser('bob', 'student');
    const tea = w.addUser('tea', 'instructor');
    const box = `rm-${w.id}`;
    // Removed the moment it exits: labtail reads what it wrote from the
    // log file it holds open.
    w.run('ann', `${World.gate}${numbered(5000)}; exit 3`, ['--rm'], box);
    const annCookie = await w.login(ann.name, ann.password);
    // Recorded from its first line: wait until labtail follows it.
    await recorded(w, annCookie, box, 0);
    w.open(box);
    await recorded(w, annCookie, box, 5000, { removed: true });

    for (const user of [ann, tea]) {
      const cookie = await w.login(user.name, user.password);
      const { lines } = await wholeHistory(w, cookie, box);
      assert.deepEqual(texts(lines), want(5000), user.name);
      const list = (await api(w, cookie, '/api/containers')).body;
      const row = list.find((c) => c.name === box);
      assert.equal(row.state, 'removed');
      assert.equal(row.exitCode, 3);
      assert.ok(row.endedAt);
      // Replayed over Socket.IO: all of it, once, in order, then the end.
      const s = await w.connect(cookie);
      const c = collect(s, box);
      const ack = await ask(s, 'start-container-logs', { containerName: box, since: '1970-01-01T00:00:00Z' });
      assert.equal(ack.ok, true, JSON.stringify(ack));
      assert.equal(ack.state, 'removed');
      await c.until((st) => st.events.some((e) => e.event === 'container-log-end'), 30_000, 'the end');
      assert.deepEqual(texts(c.lines), want(5000));
      const ends = c.events.filter((e) => e.event === 'container-log-end');
      assert.deepEqual(ends.map((e) => e.reason), ['removed']);
    }
    // Another student: the same answer as for a container that never was.
    const bobCookie = await w.login(bob.name, bob.password);
    const s = await w.connect(bobCookie);
    for (const name of [box, `never-${w.id}`]) {
      const ack = await ask(s, 'start-container-logs', { containerName: name, since: '1970-01-01T00:00:00Z' });
      assert.equal(ack.error.code, 'forbidden_or_missing');
      const page = await api(w, bobCookie, `/api/history/${name}/lines`);
      assert.equal(page.status, 404);
      assert.equal(page.body.error.code, 'forbidden_or_missing');
    }
    assert.ok(!(await api(w, bobCookie, '/api/containers')).body.some((c) => c.name === box));
  });

  test('--rm containers that print and exit at once, before labtail could look: every line, the exit code', async () => {
    // The race a short lab job makes: Docker deletes the log file when it
    // removes the container, a few milliseconds after it ran. labtail holds
    // the file open from the container's start event, before anything else.
    const w = world();
    await w.start();
    const ann = w.addUser('ann', 'student');
    const boxes = [];
    for (let k = 0; k < 6; k++) {
      const box = `quick-${k}-${w.id}`;
      w.run('ann', `${numbered(1500)}; exit ${k + 1}`, ['--rm'], box);
      boxes.push(box);
    }
    const cookie = await w.login(ann.name, ann.password);
    for (const [k, box] of boxes.entries()) {
      await recorded(w, cookie, box, 1500, { removed: true });
      const { lines, last } = await wholeHistory(w, cookie, box);
      assert.deepEqual(texts(lines), want(1500), box);
      const events = (await api(w, cookie, `/api/history/${box}/lines?limit=10`)).body.events.map((e) => [e.kind, e.exitCode ?? null]);
      assert.ok(events.some(([kind, code]) => kind === 'exited' && code === k + 1), `${box}: ${JSON.stringify(events)}`);
      assert.ok(last.events.some((e) => e.kind === 'removed') || events.some(([kind]) => kind === 'removed'), box);
    }
  });

  test('json-file rotation: all 20 000 lines though Docker kept about 2 000', async () => {
    const w = world();
    await w.start();
    const ann = w.addUser('ann', 'student');
    const cookie = await w.login(ann.name, ann.password);
    // ~2 000 lines/s: 100 lines, then 50 ms.
    const box = w.run('ann', `${World.gate}i=1; while [ $i -le 20000 ]; do echo "line $i"; `
      + 'if [ $((i % 100)) -eq 0 ]; then sleep 0.05; fi; i=$((i+1)); done; sleep 300',
    ['--log-opt', 'max-size=100k', '--log-opt', 'max-file=2']);
    await recorded(w, cookie, box, 0);
    w.open(box);
    await recorded(w, cookie, box, 20000, { ms: 120_000 });
    const kept = w.dockerLogs(box).stdout.length;
    assert.ok(kept < 10000, `Docker kept ${kept} lines`);
    const { lines } = await wholeHistory(w, cookie, box);
    assert.deepEqual(texts(lines), want(20000));
  });

  test('labtail killed (-9) in a burst and started again: every line once', async () => {
    const w = world();
    await w.start(['--history-flush-interval', '200ms']);
    const ann = w.addUser('ann', 'student');
    let cookie = await w.login(ann.name, ann.password);
    const box = w.run('ann', `${World.gate}i=1; while [ $i -le 30000 ]; do echo "line $i"; `
      + 'if [ $((i % 200)) -eq 0 ]; then sleep 0.02; fi; i=$((i+1)); done; sleep 300');
    await recorded(w, cookie, box, 0);
    w.open(box);
    await recorded(w, cookie, box, 3000);
    w.proc.kill('SIGKILL');
    await new Promise((res) => w.proc.once('exit', res));
    await w.start(w.lastArgs[0], w.lastArgs[1]);
    cookie = await w.login(ann.name, ann.password);
    await recorded(w, cookie, box, 30000, { ms: 120_000 });
    const { lines } = await wholeHistory(w, cookie, box);
    assert.deepEqual(texts(lines), want(30000));
  });
});

describe('reading', () => {
  test('a resume older than Docker holds is served from history, with no gap', async () => {
    const w = world();
    await w.start(['--backlog-lines', '100']);
    const ann = w.addUser('ann', 'student');
    const cookie = await w.login(ann.name, ann.password);
    // ~2 000 lines/s, into files Docker rotates every few hundred lines.
    const box = w.run('ann', `${World.gate}i=1; while [ $i -le 6000 ]; do echo "line $i"; `
      + 'if [ $((i % 100)) -eq 0 ]; then sleep 0.05; fi; i=$((i+1)); done; sleep 300',
    ['--log-opt', 'max-size=50k', '--log-opt', 'max-file=2']);
    await recorded(w, cookie, box, 0);
    w.open(box);
    await recorded(w, cookie, box, 6000);
    const { lines } = await wholeHistory(w, cookie, box);
    // Resume after line 10: Docker's rotated files no longer have it.
    const s = await w.connect(cookie);
    const c = collect(s, box);
    const ack = await ask(s, 'start-container-logs', { containerName: box, after: lines[9].cursor });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    await c.until((st) => st.lines.length >= 5990, 30_000);
    assert.deepEqual(texts(c.lines), want(6000).slice(10));
    assert.ok(!c.events.some((e) => e.event === 'container-log-gap'), JSON.stringify(c.events.filter((e) => e.event !== 'container-log')));
    // A permalink's page: the line in its context.
    const around = (await api(w, cookie, `/api/history/${box}/lines?around=${encodeURIComponent(lines[2999].cursor)}&limit=5`)).body;
    assert.deepEqual(texts(around.lines), ['line 2998', 'line 2999', 'line 3000', 'line 3001', 'line 3002']);
  });

  test('search across a class, a bundle with its manifest, hostile queries refused in bounded time', async () => {
    const w = world();
    await w.start();
    const tea = w.addUser('tea', 'instructor');
    const students = ['ann', 'bob', 'cyd'].map((n) => w.addUser(n, 'student'));
    const boxes = students.map((u, k) => w.run(u.name,
      `i=1; while [ $i -le 3000 ]; do if [ $i -eq ${500 * (k + 1)} ]; then echo "bind: address already in use"; else echo "GET /x/$i 200"; fi; i=$((i+1)); done; exit ${k}`));
    const cookie = await w.login(tea.name, tea.password);
    for (const box of boxes) await recorded(w, cookie, box, 3000, { exited: true });
    const found = (await api(w, cookie, '/api/history/search?q=address%20already%20in%20use&limit=10')).body;
    assert.deepEqual(found.hits.map((h) => [h.owner, h.containerName]).sort(),
      students.map((u, k) => [u.name, boxes[k]]).sort());
    assert.equal(found.next, null);
    // A student searches only their own.
    const annCookie = await w.login('ann', students[0].password);
    const own = (await api(w, annCookie, '/api/history/search?q=address')).body;
    assert.deepEqual(own.hits.map((h) => h.owner), ['ann']);
    assert.equal((await api(w, annCookie, '/api/history/search?q=x&owner=bob')).status, 404);
    // The class's bundle.
    const zip = await api(w, cookie, '/api/history/export');
    assert.equal(zip.status, 200);
    const dir = `${w.dataDir}/unzip`;
    const file = `${w.dataDir}/class.zip`;
    (await import('node:fs')).writeFileSync(file, Buffer.from(zip.body));
    assert.equal(spawnSync('python3', ['-c', `import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])`, file, dir]).status, 0);
    const fs = await import('node:fs');
    const crypto = await import('node:crypto');
    const manifest = JSON.parse(fs.readFileSync(`${dir}/manifest.json`, 'utf8'));
    assert.equal(manifest.containers.length, 3);
    for (const c of manifest.containers) {
      const body = fs.readFileSync(`${dir}/${c.file}`);
      assert.equal(crypto.createHash('sha256').update(body).digest('hex'), c.sha256);
      assert.equal(body.toString().trim().split('\n').length, 3000);
      assert.ok(c.lifecycle.some((e) => e.kind === 'exited'), JSON.stringify(c.lifecycle));
    }
    // Hostile queries: clear errors, quickly.
    for (const [q, code] of [
      [`/api/history/search?q=${'a'.repeat(5000)}`, 'invalid_payload'],
      ['/api/history/search?q=a(b&regex=true', 'invalid_payload'],
      [`/api/history/search?q=${encodeURIComponent('\\w{500}\\w{500}\\w{500}')}&regex=true`, 'invalid_payload'],
      ['/api/history/search?q=x&after=nonsense', 'invalid_payload'],
      ['/api/history/search?q=x&limit=-1', 'invalid_payload'],
      [`/api/history/${boxes[0]}/lines?before=not-a-cursor`, 'invalid_payload'],
      [`/api/history/${boxes[0]}/lines?before=0000000000000000001-o000000`, 'forbidden_or_missing'],
      [`/api/history/${boxes[0]}/lines?from=yesterday`, 'invalid_payload'],
      ['/api/history/..%2F..%2Fetc/lines', 'invalid_payload'],
    ]) {
      const t0 = Date.now();
      const r = await api(w, cookie, q);
      assert.ok(r.status >= 400 && r.status < 500, `${q}: ${r.status}`);
      assert.equal(r.body.error.code, code, q);
      assert.ok(Date.now() - t0 < 2000, `${q} took ${Date.now() - t0} ms`);
    }
    // A pathological regex (nested repetition) runs in linear time and
    // within the budget; a huge limit is bounded.
    const t0 = Date.now();
    const slow = await api(w, cookie, `/api/history/search?q=${encodeURIComponent('(a*)*b')}&regex=true&limit=100000000`);
    assert.equal(slow.status, 200);
    assert.ok(Date.now() - t0 < 3000);
  });
});

describe('renames', () => {
  test('docker rename mid-stream: every viewer follows the new name; history keeps every line', async () => {
    const w = world();
    await w.start();
    const ann = w.addUser('ann', 'student');
    const cookie = await w.login(ann.name, ann.password);
    const box = w.run('ann', `${World.gate}i=1; while [ $i -le 400 ]; do echo "line $i"; sleep 0.01; i=$((i+1)); done; sleep 300`);
    const renamed = `${box}-renamed`;
    w.containers.push(renamed);
    const watchers = [];
    for (let k = 0; k < 2; k++) {
      const s = await w.connect(cookie);
      const got = { lines: [], renames: [] };
      s.on('container-log', (p) => { if (p.containerName === box || p.containerName === renamed) got.lines.push([p.containerName, ...texts(p.lines)]); });
      s.on('container-renamed', (p) => got.renames.push(p));
      const ack = await ask(s, 'start-container-logs', { containerName: box, tail: 0 });
      assert.equal(ack.ok, true);
      watchers.push(got);
    }
    w.open(box);
    await deadline((async () => { while (!watchers.every((g) => g.lines.length > 5)) await new Promise((r) => setTimeout(r, 20)); })(), 20_000, 'first lines');
    w.docker('rename', box, renamed);
    await deadline((async () => {
      while (!watchers.every((g) => g.lines.flat().includes('line 400'))) await new Promise((r) => setTimeout(r, 50));
    })(), 30_000, 'the last line');
    for (const g of watchers) {
      assert.deepEqual(g.renames, [{ containerName: box, newName: renamed }]);
      // Every event after the rename carries the new name; none is lost.
      const names = g.lines.map((l) => l[0]);
      const first = names.indexOf(renamed);
      assert.ok(first > 0 && names.slice(first).every((n) => n === renamed), JSON.stringify(names));
      assert.deepEqual(g.lines.flatMap((l) => l.slice(1)), want(400));
    }
    // A new viewer asks by the new name and gets the same stream.
    const s3 = await w.connect(cookie);
    const c3 = collect(s3, renamed);
    const ack3 = await ask(s3, 'start-container-logs', { containerName: renamed, tail: 5 });
    assert.equal(ack3.containerName, renamed);
    await c3.until((st) => st.lines.length >= 5);
    assert.deepEqual(texts(c3.lines), want(400).slice(395));
    await recorded(w, cookie, renamed, 400);
    assert.deepEqual(texts((await wholeHistory(w, cookie, renamed)).lines), want(400));
  });
});

describe('two nodes on one Postgres', () => {
  const pg = freshPostgres();
  after(() => pg.drop());

  test('one copy of each line; the survivor records on when the recording node dies', async () => {
    const a = world({ databaseUrl: pg.url });
    const b = world({ databaseUrl: pg.url, label: a.label });
    await a.start(['--history-lease', '2s']);
    await b.start(['--history-lease', '2s']);
    const ann = a.addUser('ann', 'student');
    const box = a.run('ann', `${World.gate}i=1; while [ $i -le 4000 ]; do echo "line $i"; `
      + 'if [ $((i % 100)) -eq 0 ]; then sleep 0.05; fi; i=$((i+1)); done; sleep 300');
    const cookie = await a.login(ann.name, ann.password);
    await recorded(a, cookie, box, 0);
    a.open(box);
    await recorded(a, cookie, box, 500);
    // Kill whichever node records (the one holding the lease): both try;
    // the metric says which.
    const holder = (await a.metric('labtail_history_lease_held', 'engine="local"')) === 1 ? a : b;
    const other = holder === a ? b : a;
    holder.proc.kill('SIGKILL');
    const c2 = await other.login(ann.name, ann.password);
    await recorded(other, c2, box, 4000, { ms: 120_000 });
    const { lines } = await wholeHistory(other, c2, box);
    assert.deepEqual(texts(lines), want(4000));
  });
});

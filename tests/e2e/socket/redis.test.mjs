// Several labtail nodes sharing rooms through a real Redis (the socketioxide
// Redis adapter), a real Postgres and one real Docker engine. The nodes'
// database re-check runs once an hour here, so anything that reaches another
// node within seconds came through Redis. Redis is then killed mid-stream and
// restarted: streams never notice, /readyz says degraded meanwhile, and
// cross-node events work again once Redis is back.

import { test, before, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  World, TestRedis, BIN, ask, collect, texts, range, deadline, freshPostgres, freePort,
} from '../lib/harness.mjs';

const pg = freshPostgres();
const redis = new TestRedis();
const a = new World({ databaseUrl: pg.url });
const b = new World({ databaseUrl: pg.url, label: a.label });
let alice; let teacher;

before(async () => {
  await redis.start();
  const args = ['--redis-url', redis.url, '--auth-recheck-interval', '1h', '--redis-timeout', '1s'];
  await Promise.all([a.start(args), b.start(args)]);
  alice = a.addUser('alice', 'student');
  teacher = a.addUser('teacher', 'instructor');
});

after(async () => {
  await a.cleanup();
  await b.cleanup();
  await redis.kill();
  pg.drop();
});
afterEach(() => { a.disconnectAll(); b.disconnectAll(); });

async function readyz(w) {
  const res = await fetch(`${w.url}/readyz`);
  return { status: res.status, body: await res.json() };
}

/** Checks every 100 ms until `check()` resolves truthy, for at most `ms`. */
async function eventually(check, ms, what) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls /readyz of `w` until `pred(body)`; returns that answer. */
async function readyzUntil(w, pred, what) {
  let last;
  await eventually(async () => {
    last = await readyz(w);
    return pred(last.body);
  }, 30_000, what);
  return last;
}

function ended(socket) {
  return new Promise((r) => socket.once('disconnect', r));
}

describe('two nodes, one Redis', () => {
  test('a node whose Redis does not answer at start refuses to start, with the reason', async () => {
    const port = await freePort();
    const r = spawnSync(BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', a.dataDir,
      '--database-url', pg.url, '--redis-url', `redis://:hunter2@127.0.0.1:${port}`, '--redis-timeout', '1s'],
    { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`Redis.*127\\.0\\.0\\.1:${port}`));
    assert.doesNotMatch(r.stderr, /hunter2/);
  });

  test('/readyz reports Redis', async () => {
    for (const w of [a, b]) {
      const r = await readyz(w);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { status: 'ready', database: 'up', docker: 'up', redis: 'up' });
    }
  });

  test('logout on node A ends the session\'s socket on node B at once (through Redis)', async (t) => {
    const cookie = await a.login(alice.name, alice.password);
    const other = await b.connect(await b.login(alice.name, alice.password), { url: b.url });
    const sb = await b.connect(cookie, { url: b.url, transports: ['websocket'] });
    const gone = ended(sb);
    const t0 = performance.now();
    const res = await fetch(`${a.url}/api/logout`, { method: 'POST', headers: { cookie } });
    assert.equal(res.status, 204);
    // The database re-check is an hour away: only Redis can make this.
    assert.equal(await deadline(gone, 5_000, 'the socket on node B to end'), 'io server disconnect');
    // A figure, not an assertion: how long the logout took to reach node B.
    t.diagnostic(`logout on A to disconnect on B: ${(performance.now() - t0).toFixed(1)} ms`);
    assert.ok(other.connected, "another session's socket on B stays");
  });

  test('the dashboard on node B shows who watches through node A', async () => {
    const box = a.run('alice', `${World.gate}echo hi`);
    const st = await b.connect(await b.login(teacher.name, teacher.password), { url: b.url });
    const snapshots = [];
    const waiters = new Set();
    st.on('dashboard', (snap) => {
      snapshots.push(snap);
      for (const w of waiters) w();
    });
    const rowUntil = (pred, what) => deadline(new Promise((res) => {
      const check = () => {
        const row = snapshots.at(-1)?.containers.find((c) => c.name === box);
        if (row && pred(row)) { waiters.delete(check); res(row); }
      };
      waiters.add(check);
      check();
    }), 15_000, what);
    assert.equal((await ask(st, 'watch-dashboard', {})).ok, true);
    await rowUntil((r) => r.watchers.length === 0, 'the container on the dashboard, unwatched');

    const sa = await a.connect(await a.login(alice.name, alice.password));
    assert.equal((await ask(sa, 'start-container-logs', { containerName: box })).ok, true);
    const row = await rowUntil((r) => r.watchers.length > 0, 'alice (on node A) as a watcher on node B');
    assert.deepEqual(row.watchers, ['alice']);
    assert.equal((await ask(sa, 'stop-container-logs', { containerName: box })).wasWatching, true);
    await rowUntil((r) => r.watchers.length === 0, 'the watcher gone after stop');
  });

  test('Redis killed mid-stream: streams go on, /readyz degraded, cross-node logout recovers', async () => {
    const box = a.run('alice', `${World.gate}seq 1 1000; `
      + 'while [ ! -e /tmp/go2 ]; do sleep 0.05; done; seq 1001 2000; '
      + 'while [ ! -e /tmp/go3 ]; do sleep 0.05; done; seq 2001 3000');
    const sa = await a.connect(await a.login(alice.name, alice.password));
    const sb = await b.connect(await b.login(alice.name, alice.password), { url: b.url });
    const seen = [sa, sb].map((s) => collect(s, box));
    for (const s of [sa, sb]) {
      assert.equal((await ask(s, 'start-container-logs', { containerName: box })).ok, true);
    }
    a.open(box);
    await Promise.all(seen.map((c) => c.until((x) => x.lines.length >= 1000)));

    await redis.kill();
    for (const w of [a, b]) {
      const down = await readyzUntil(w, (x) => x.redis === 'down', 'readyz to report Redis down');
      assert.equal(down.status, 200, 'Redis down: the node still serves');
      assert.equal(down.body.status, 'degraded');
    }
    // Streams do not go through Redis.
    a.docker('exec', box, 'touch', '/tmp/go2');
    await Promise.all(seen.map((c) => c.until((x) => x.lines.length >= 2000, 20_000, 'lines while Redis is down')));
    // A logout while Redis is down still ends that session's sockets on
    // this node at once.
    const cookie = await a.login(alice.name, alice.password);
    const local = await a.connect(cookie);
    const localGone = ended(local);
    assert.equal((await fetch(`${a.url}/api/logout`, { method: 'POST', headers: { cookie } })).status, 204);
    await deadline(localGone, 5_000, 'the local socket to end while Redis is down');

    await redis.start();
    for (const w of [a, b]) {
      const up = await readyzUntil(w, (x) => x.redis === 'up', 'readyz to report Redis back');
      assert.equal(up.body.status, 'ready');
    }
    // Both nodes listen on the adapter's request channel again (the client
    // re-subscribes by itself after reconnecting).
    await eventually(() => redis.cli('PUBSUB', 'SHARDNUMSUB', 'socket.io-request#/#').endsWith('\n2'),
      30_000, 'both nodes to re-subscribe to Redis');
    const cookie2 = await a.login(alice.name, alice.password);
    const remote = await b.connect(cookie2, { url: b.url });
    const remoteGone = ended(remote);
    assert.equal((await fetch(`${a.url}/api/logout`, { method: 'POST', headers: { cookie: cookie2 } })).status, 204);
    await deadline(remoteGone, 5_000, 'the socket on node B to end through Redis again');

    a.docker('exec', box, 'touch', '/tmp/go3');
    await Promise.all(seen.map((c) => c.until((x) => x.events.some((e) => e.event === 'container-log-end'))));
    for (const c of seen) {
      assert.deepEqual(texts(c.lines), range(1, 3000), 'every line once, in order, Redis or not');
      assert.ok(!c.events.some((e) => e.event === 'container-log-gap'), 'no gap');
    }
  });

  test('a node stops cleanly while Redis is away (exit 0, no panic)', async () => {
    // A third node re-checking often: its sweeps run while shutdown waits
    // for Redis, after the namespace is gone.
    const c = new World({ databaseUrl: pg.url, label: a.label });
    try {
      await c.start(['--redis-url', redis.url, '--auth-recheck-interval', '50ms', '--redis-timeout', '1s']);
      const sc = await c.connect(await c.login(alice.name, alice.password));
      assert.ok(sc.connected);
      await redis.kill();
      await readyzUntil(c, (x) => x.redis === 'down', 'readyz to report Redis down');
      await c.stop();
      assert.equal(c.proc.exitCode, 0, c.stderr());
      assert.doesNotMatch(c.stderr(), /panicked/);
    } finally {
      await c.cleanup();
    }
  });
});

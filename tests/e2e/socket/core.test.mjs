// The core contract with the real socket.io-client v4 against a real labtail
// and a real Docker engine: authentication, authorisation, ordered complete
// lines, shared upstreams, lifecycle events, logout, malformed payloads.

import { test, before, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { World, ask, collect, texts, range, deadline } from '../lib/harness.mjs';

const w = new World();
let alice; let bob; let teacher;

before(async () => {
  // Live streaming alone: lab history (on by default) keeps an upstream
  // per lab container open, which the upstream counts below would see
  // (history.test.mjs tests the two together).
  await w.start(['--history', 'off']);
  alice = w.addUser('alice', 'student');
  bob = w.addUser('bob', 'student');
  teacher = w.addUser('teacher', 'instructor');
});

after(() => w.cleanup());
afterEach(() => w.disconnectAll());

describe('handshake', () => {
  test('a socket without a session is refused with connect_error "unauthenticated"', async () => {
    for (const transports of [['polling'], ['websocket']]) {
      await assert.rejects(w.connect(null, { transports }), (err) => {
        assert.equal(err.message, 'unauthenticated');
        return true;
      });
    }
  });

  test('a forged or stale cookie is refused', async () => {
    await assert.rejects(w.connect('labtail_session=AAAAAAAAAAAAAAAAAAAAAA'), /unauthenticated/);
  });

  test('a handshake from a foreign Origin is refused even with a valid cookie', async () => {
    const cookie = await w.login(alice.name, alice.password);
    for (const transports of [['polling'], ['websocket']]) {
      await assert.rejects(
        w.connect(cookie, { transports, headers: { origin: 'http://evil.example' } }),
        (err) => err instanceof Error,
      );
    }
    // The same cookie from the server's own origin works.
    const s = await w.connect(cookie, { headers: { origin: w.url } });
    assert.ok(s.connected);
    s.disconnect();
  });
});

describe('HTTP login', () => {
  test('login sets an HttpOnly SameSite cookie and a fresh session id', async () => {
    const res = await fetch(`${w.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: alice.name, password: alice.password }),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { username: 'alice', role: 'student', courses: [] });
    const [cookie] = res.headers.getSetCookie();
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Lax/);
    // Logging in again on that session gives another id (session fixation).
    const again = await fetch(`${w.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: cookie.split(';')[0] },
      body: JSON.stringify({ username: alice.name, password: alice.password }),
    });
    assert.equal(again.status, 200);
    const [cookie2] = again.headers.getSetCookie();
    assert.notEqual(cookie2.split(';')[0], cookie.split(';')[0]);
  });

  test('wrong password and unknown user get the same answer and cost the same work', async (t) => {
    const attempt = async (username) => {
      const t0 = performance.now();
      const res = await fetch(`${w.url}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password: 'definitely-wrong' }),
      });
      return { ms: performance.now() - t0, status: res.status, body: await res.json() };
    };
    const checks = await w.metric('labtail_password_checks_total');
    const wrong = []; const unknown = [];
    for (let i = 0; i < 5; i++) {
      wrong.push(await attempt('alice'));
      unknown.push(await attempt(`nobody-${i}`));
    }
    for (const r of [...wrong, ...unknown]) {
      assert.equal(r.status, 401);
      assert.deepEqual(r.body, {
        error: { code: 'invalid_credentials', message: 'wrong user name or password' },
      });
    }
    // Both paths run one full argon2 verification each (an unknown user
    // against a dummy hash), so neither the answer nor the work tells them
    // apart. The work is counted, not timed: times on a busy machine say
    // nothing. They are shown for information.
    assert.equal(await w.metric('labtail_password_checks_total') - checks, 10);
    const median = (a) => a.map((r) => r.ms).sort((x, y) => x - y)[2];
    t.diagnostic(`median ms: wrong password ${median(wrong).toFixed(1)}, unknown user ${median(unknown).toFixed(1)}`);
    assert.ok(await w.metric('labtail_login_failures_total') >= 10);
  });

  test('login refuses non-JSON bodies and foreign origins', async () => {
    const form = await fetch(`${w.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ username: alice.name, password: alice.password }),
    });
    assert.equal(form.status, 415);
    const cross = await fetch(`${w.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'http://evil.example' },
      body: JSON.stringify({ username: alice.name, password: alice.password }),
    });
    assert.equal(cross.status, 403);
  });

  test('/api/me and /api/containers need a session', async () => {
    for (const path of ['/api/me', '/api/containers']) {
      const res = await fetch(`${w.url}${path}`);
      assert.equal(res.status, 401);
      assert.equal((await res.json()).error.code, 'unauthenticated');
    }
    const cookie = await w.login(bob.name, bob.password);
    const me = await fetch(`${w.url}/api/me`, { headers: { cookie } });
    assert.deepEqual(await me.json(), { username: 'bob', role: 'student', courses: [] });
  });
});

describe('containers and ownership', () => {
  let aliceBox; let bobBox; let unlabelled;
  before(() => {
    aliceBox = w.run('alice', 'echo alice-secret; sleep 300');
    bobBox = w.run('bob', 'echo bob-secret; sleep 300');
    unlabelled = w.run(null, 'echo nobody; sleep 300');
  });

  test('a student lists only their own containers; an instructor lists every lab container', async () => {
    const sa = await w.connect(await w.login(alice.name, alice.password));
    const la = await ask(sa, 'list-containers', {});
    assert.equal(la.ok, true);
    assert.deepEqual(la.containers.map((c) => c.name), [aliceBox]);
    assert.equal(la.containers[0].owner, 'alice');
    assert.equal(la.containers[0].state, 'running');

    const st = await w.connect(await w.login(teacher.name, teacher.password));
    const lt = await ask(st, 'list-containers', {});
    const names = lt.containers.map((c) => c.name).sort();
    assert.deepEqual(names, [aliceBox, bobBox].sort());
    assert.ok(!names.includes(unlabelled));

    const http = await fetch(`${w.url}/api/containers`, {
      headers: { cookie: await w.login(bob.name, bob.password) },
    });
    assert.deepEqual((await http.json()).map((c) => c.name), [bobBox]);
  });

  test("another student's container and a missing one get the same answer", async () => {
    const sb = await w.connect(await w.login(bob.name, bob.password));
    const other = await ask(sb, 'start-container-logs', { containerName: aliceBox });
    const missing = await ask(sb, 'start-container-logs', { containerName: `no-such-${w.id}` });
    const unlab = await ask(sb, 'start-container-logs', { containerName: unlabelled });
    assert.equal(other.ok, false);
    assert.equal(other.error.code, 'forbidden_or_missing');
    assert.deepEqual(other, missing);
    assert.deepEqual(other, unlab);
    assert.ok(!JSON.stringify(other).includes(aliceBox), 'the answer does not echo the name');
    // By ID, too.
    const id = w.docker('inspect', '-f', '{{.Id}}', aliceBox);
    assert.deepEqual(await ask(sb, 'start-container-logs', { containerName: id }), other);
    // And no log line of alice's reached bob.
    let leaked = false;
    sb.on('container-log', () => { leaked = true; });
    await ask(sb, 'list-containers', {});
    assert.equal(leaked, false);
  });

  test('an instructor may watch any lab container, but not an unlabelled one', async () => {
    const st = await w.connect(await w.login(teacher.name, teacher.password));
    const c = collect(st, bobBox);
    const ack = await ask(st, 'start-container-logs', { containerName: bobBox });
    assert.equal(ack.ok, true);
    await c.until((s) => texts(s.lines).includes('bob-secret'));
    const un = await ask(st, 'start-container-logs', { containerName: unlabelled });
    assert.equal(un.error.code, 'forbidden_or_missing');
  });

  test('the download endpoint follows the same rules', async () => {
    const cookie = await w.login(alice.name, alice.password);
    const own = await fetch(`${w.url}/api/containers/${aliceBox}/logs`, { headers: { cookie } });
    assert.equal(own.status, 200);
    assert.equal(await own.text(), 'alice-secret\n');
    assert.match(own.headers.get('content-disposition'), /attachment/);
    const other = await fetch(`${w.url}/api/containers/${bobBox}/logs`, { headers: { cookie } });
    const missing = await fetch(`${w.url}/api/containers/nope-${w.id}/logs`, { headers: { cookie } });
    assert.equal(other.status, 404);
    assert.deepEqual(await other.json(), await missing.json());
  });
});

describe('streaming', () => {
  test('lines arrive after the ack, complete, in order, with stdout and stderr apart', async () => {
    const box = w.run('alice', `${World.gate} seq 1 2000; seq 5001 5100 >&2; sleep 300`);
    const s = await w.connect(await w.login(alice.name, alice.password));
    const order = [];
    s.on('container-log', () => order.push('log'));
    const c = collect(s, box);
    const ack = await ask(s, 'start-container-logs', { containerName: box, tail: 0 });
    order.push('ack');
    assert.equal(ack.ok, true);
    assert.equal(ack.containerName, box);
    w.open(box);
    await c.until((st) => st.lines.length >= 2100, 30_000);
    assert.equal(order[0], 'ack');
    assert.deepEqual(texts(c.lines, 'stdout'), range(1, 2000));
    assert.deepEqual(texts(c.lines, 'stderr'), range(5001, 5100));
    // Within a stream, cursors strictly increase (across streams the order
    // is Docker's log order); timestamps are RFC 3339 with nanoseconds.
    for (const stream of ['stdout', 'stderr']) {
      const cs = c.lines.filter((l) => l.stream === stream).map((l) => l.cursor);
      for (let i = 1; i < cs.length; i++) assert.ok(cs[i] > cs[i - 1], `${stream} cursor order at ${i}`);
    }
    assert.equal(new Set(c.lines.map((l) => l.cursor)).size, c.lines.length, 'cursors are unique');
    assert.match(c.lines[0].ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    // `log` is the Node design's field: the same lines, newline-terminated.
    assert.equal(c.logs.join(''), c.lines.map((l) => `${l.text}\n`).join(''));
    // Batches stay within their bound (500 lines by default); how lines are
    // grouped depends on timing and is tested with a scripted engine
    // (labtail-logs seam_tests) and measured by the benchmarks.
    assert.ok(c.events.every((e) => e.event !== 'container-log' || e.n <= 500));
  });

  test('tail gives the last N lines of backlog (default 100), then live lines', async () => {
    const box = w.run('alice', 'seq 1 500; sleep 300');
    const s = await w.connect(await w.login(alice.name, alice.password));
    await deadline((async () => {
      while (!w.docker('logs', box).endsWith('500')) await new Promise((r) => setTimeout(r, 50));
    })(), 15_000, 'container output');
    const c = collect(s, box);
    const ack = await ask(s, 'start-container-logs', { containerName: box });
    assert.equal(ack.tail, 100);
    await c.until((st) => st.lines.length >= 100);
    assert.deepEqual(texts(c.lines), range(401, 500));
    await ask(s, 'stop-container-logs', { containerName: box });
    const c2 = collect(s, box);
    const ack2 = await ask(s, 'start-container-logs', { containerName: box, tail: 7 });
    assert.equal(ack2.tail, 7);
    await c2.until((st) => st.lines.length >= 7);
    assert.deepEqual(texts(c2.lines), range(494, 500));
  });

  test('a TTY container streams as "console"', async () => {
    const box = w.run('alice', 'echo one; echo two >&2; sleep 300', ['-t']);
    const s = await w.connect(await w.login(alice.name, alice.password));
    const c = collect(s, box);
    await ask(s, 'start-container-logs', { containerName: box });
    await c.until((st) => st.lines.length >= 2);
    assert.deepEqual(c.lines.map((l) => [l.stream, l.text]), [['console', 'one'], ['console', 'two']]);
  });

  test('two sockets share one upstream; stopping one never stops the other', async () => {
    await w.waitMetric('labtail_upstream_streams_open', (v) => v === 0);
    const box = w.run('alice', 'i=1; while true; do echo $i; i=$((i+1)); sleep 0.05; done');
    const cookie = await w.login(alice.name, alice.password);
    const s1 = await w.connect(cookie);
    const s2 = await w.connect(cookie);
    const c1 = collect(s1, box);
    const c2 = collect(s2, box);
    assert.equal((await ask(s1, 'start-container-logs', { containerName: box })).ok, true);
    assert.equal((await ask(s2, 'start-container-logs', { containerName: box })).ok, true);
    await c1.until((s) => s.lines.length >= 5);
    await c2.until((s) => s.lines.length >= 5);
    assert.equal(await w.metric('labtail_upstream_streams_open'), 1);
    // Starting again is idempotent: no second stream, no duplicate lines.
    const again = await ask(s1, 'start-container-logs', { containerName: box });
    assert.equal(again.alreadyWatching, true);
    assert.equal((await ask(s1, 'stop-container-logs', { containerName: box })).wasWatching, true);
    const n2 = c2.lines.length;
    await c2.until((s) => s.lines.length >= n2 + 10);
    const t2 = texts(c2.lines).map(Number);
    assert.deepEqual(t2, Array.from({ length: t2.length }, (_, i) => t2[0] + i));
    const t1 = texts(c1.lines).map(Number);
    assert.deepEqual(t1, Array.from({ length: t1.length }, (_, i) => t1[0] + i));
    assert.equal(await w.metric('labtail_upstream_streams_open'), 1);
    await ask(s2, 'stop-container-logs', { containerName: box });
    await w.waitMetric('labtail_upstream_streams_open', (v) => v === 0);
  });

  test('a disconnect closes the upstream of its last watcher', async () => {
    await w.waitMetric('labtail_upstream_streams_open', (v) => v === 0);
    const box = w.run('alice', 'while true; do echo x; sleep 0.2; done');
    const s = await w.connect(await w.login(alice.name, alice.password));
    const c = collect(s, box);
    await ask(s, 'start-container-logs', { containerName: box });
    await c.until((st) => st.lines.length >= 1);
    await w.waitMetric('labtail_upstream_streams_open', (v) => v === 1);
    s.disconnect();
    await w.waitMetric('labtail_upstream_streams_open', (v) => v === 0);
  });

  test('an exiting container ends the stream with its exit code', async () => {
    const box = w.run('alice', 'sleep 1; echo bye; exit 3');
    const s = await w.connect(await w.login(alice.name, alice.password));
    const c = collect(s, box);
    await ask(s, 'start-container-logs', { containerName: box });
    await c.until((st) => st.events.some((e) => e.event === 'container-log-end'), 30_000, 'end');
    assert.deepEqual(texts(c.lines), ['bye']);
    const end = c.events.find((e) => e.event === 'container-log-end');
    assert.deepEqual(end, { event: 'container-log-end', containerName: box, reason: 'exited', exitCode: 3 });
  });

  test('removing a watched container ends the stream with reason "removed"', async () => {
    const box = w.run('alice', 'echo up; sleep 300');
    const s = await w.connect(await w.login(alice.name, alice.password));
    const c = collect(s, box);
    await ask(s, 'start-container-logs', { containerName: box });
    await c.until((st) => st.lines.length >= 1);
    w.docker('rm', '-f', box);
    // `rm -f` kills a running container first: an "exited" end may come
    // before the final "removed" one, never after it.
    await c.until((st) => st.events.some((e) => e.event === 'container-log-end' && e.reason === 'removed'), 30_000, 'end');
    const ends = c.events.filter((e) => e.event === 'container-log-end').map((e) => e.reason);
    assert.equal(ends.at(-1), 'removed');
    assert.ok(ends.every((r) => r === 'exited' || r === 'removed'), JSON.stringify(ends));
    // The watch is gone: starting again is refused like any missing container.
    const again = await ask(s, 'start-container-logs', { containerName: box });
    assert.equal(again.error.code, 'forbidden_or_missing');
  });

  test('a socket may watch a bounded number of containers', async () => {
    const w2 = new World();
    try {
      await w2.start(['--max-streams-per-socket', '2']);
      const u = w2.addUser('cap', 'student');
      const boxes = [0, 1, 2].map(() => w2.run('cap', 'sleep 300'));
      const s = await w2.connect(await w2.login(u.name, u.password));
      assert.equal((await ask(s, 'start-container-logs', { containerName: boxes[0] })).ok, true);
      assert.equal((await ask(s, 'start-container-logs', { containerName: boxes[1] })).ok, true);
      const third = await ask(s, 'start-container-logs', { containerName: boxes[2] });
      assert.equal(third.error.code, 'too_many_streams');
      await ask(s, 'stop-container-logs', { containerName: boxes[0] });
      assert.equal((await ask(s, 'start-container-logs', { containerName: boxes[2] })).ok, true);
    } finally {
      await w2.cleanup();
    }
  });
});

describe('bad input', () => {
  test('malformed payloads get invalid_payload and the socket stays', async () => {
    const s = await w.connect(await w.login(alice.name, alice.password));
    const bad = [
      ['start-container-logs', 'just a string'],
      ['start-container-logs', 42],
      ['start-container-logs', null],
      ['start-container-logs', []],
      ['start-container-logs', {}],
      ['start-container-logs', { containerName: 17 }],
      ['start-container-logs', { containerName: '../../info' }],
      ['start-container-logs', { containerName: 'a%2Fb' }],
      ['start-container-logs', { containerName: 'a?all=1' }],
      ['start-container-logs', { containerName: 'x'.repeat(5000) }],
      ['start-container-logs', { containerName: 'ok', tail: -1 }],
      ['start-container-logs', { containerName: 'ok', tail: 'ten' }],
      ['start-container-logs', { containerName: 'ok', tail: 1e308 }],
      ['start-container-logs', { containerName: 'ok', after: 'not-a-cursor' }],
      ['stop-container-logs', { containerName: { nested: true } }],
      ['list-containers', 'nope'],
    ];
    for (const [event, payload] of bad) {
      const ack = await ask(s, event, payload);
      assert.equal(ack.ok, false, `${event} ${JSON.stringify(payload)}`);
      assert.equal(ack.error.code, 'invalid_payload', `${event} ${JSON.stringify(payload)}`);
      assert.equal(typeof ack.error.message, 'string');
    }
    assert.ok(s.connected);
    assert.equal((await ask(s, 'list-containers', {})).ok, true);
  });

  test('bad configuration exits with code 2 and one clear line', () => {
    for (const args of [
      ['serve', '--listen', 'not-an-address'],
      ['serve', '--database-url', 'mysql://x'],
      ['serve', '--allowed-origin', 'evil.example'],
      ['serve', '--docker-host', 'ftp://x'],
      ['serve', '--backlog-lines', '0'],
      ['user', 'add', 'Bad Name', '--role', 'student', '--password-stdin'],
      ['user', 'add', 'x', '--role', 'janitor'],
      ['serve', '--labs-file', '/nonexistent/labs.toml'],
      ['serve', '--attention-webhook', 'ftp://hooks.example'],
      ['serve', '--attention-burst-factor', '-1'],
    ]) {
      const r = w.cli(args, 'pw\n');
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('labtail: error') || l.startsWith('error:'));
      assert.ok(lines.length >= 1, `${args.join(' ')} printed: ${r.stderr}`);
    }
  });
});

describe('ending sessions', () => {
  test('logout disconnects every socket of that session, and only those', async () => {
    const cookie = await w.login(alice.name, alice.password);
    const other = await w.connect(await w.login(alice.name, alice.password));
    const s1 = await w.connect(cookie, { transports: ['websocket'] });
    const s2 = await w.connect(cookie, { transports: ['polling'] });
    const gone = Promise.all([s1, s2].map((s) => new Promise((r) => s.once('disconnect', r))));
    const res = await fetch(`${w.url}/api/logout`, { method: 'POST', headers: { cookie } });
    assert.equal(res.status, 204);
    const reasons = await deadline(gone, 10_000, 'sockets to be disconnected');
    assert.deepEqual(reasons, ['io server disconnect', 'io server disconnect']);
    assert.ok(other.connected, "another session's socket stays");
    // The old cookie no longer works.
    await assert.rejects(w.connect(cookie), /unauthenticated/);
  });

  test('removing a user ends their sockets', async () => {
    const u = w.addUser('temp', 'student');
    const s = await w.connect(await w.login(u.name, u.password));
    const gone = new Promise((r) => s.once('disconnect', r));
    const r = w.cli(['user', 'remove', 'temp']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await deadline(gone, 10_000, 'removed user socket to end'), 'io server disconnect');
  });

  test('changing a password ends the sessions made with the old one', async () => {
    const u = w.addUser('pwchange', 'student');
    const cookie = await w.login(u.name, u.password);
    const s = await w.connect(cookie);
    const gone = new Promise((r) => s.once('disconnect', r));
    const r = w.cli(['user', 'passwd', 'pwchange', '--password-stdin'], 'a-new-password\n');
    assert.equal(r.code, 0, r.stderr);
    await deadline(gone, 10_000, 'socket to end');
    const me = await fetch(`${w.url}/api/me`, { headers: { cookie } });
    assert.equal(me.status, 401);
  });
});

describe('operations', () => {
  test('/healthz, /readyz and /metrics answer', async () => {
    assert.equal((await fetch(`${w.url}/healthz`)).status, 200);
    const ready = await fetch(`${w.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready', database: 'up', docker: 'up' });
    const text = await (await fetch(`${w.url}/metrics`)).text();
    for (const m of ['labtail_sockets_connected', 'labtail_upstream_streams_open',
      'labtail_lines_read_total', 'labtail_lines_emitted_total', 'labtail_lines_dropped_total',
      'labtail_login_failures_total']) {
      assert.match(text, new RegExp(`^${m}`, 'm'), m);
    }
  });
});

// Several labtail nodes: two real labtail processes on different ports share
// one real Postgres (users, sessions, audit) and one real Docker engine. A
// session made on one node is valid on the other; each node streams from its
// own upstream, so every socket gets every line exactly once; a logout on
// one node ends the session's sockets on the other.

import { test, before, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { World, ask, collect, texts, range, deadline, freshPostgres } from '../lib/harness.mjs';

const pg = freshPostgres();
const a = new World({ databaseUrl: pg.url });
const b = new World({ databaseUrl: pg.url, label: a.label });
let alice; let teacher;

before(async () => {
  // Both nodes migrate the same database at start: the second finds it done.
  await Promise.all([a.start(), b.start()]);
  alice = a.addUser('alice', 'student');
  teacher = b.addUser('teacher', 'instructor');
});

after(async () => {
  await a.cleanup();
  await b.cleanup();
  pg.drop();
});
afterEach(() => { a.disconnectAll(); b.disconnectAll(); });

describe('two nodes, one Postgres', () => {
  test('users made through either node exist on both', () => {
    for (const w of [a, b]) {
      const r = w.cli(['user', 'list']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /alice\s+student/);
      assert.match(r.stdout, /teacher\s+instructor/);
    }
  });

  test('a login on node A is recognised on node B', async () => {
    const cookie = await a.login(alice.name, alice.password);
    const me = await fetch(`${b.url}/api/me`, { headers: { cookie } });
    assert.equal(me.status, 200);
    assert.deepEqual(await me.json(), { username: 'alice', role: 'student', courses: [] });
    const s = await b.connect(cookie, { url: b.url, transports: ['websocket'] });
    assert.ok(s.connected);
  });

  test('a container watched through both nodes: every line exactly once per socket', async () => {
    const box = a.run('alice', `${World.gate}seq 1 2000`);
    const cookie = await a.login(alice.name, alice.password);
    const sa = await a.connect(cookie);
    const sb = await b.connect(cookie, { url: b.url });
    const st = await b.connect(await b.login(teacher.name, teacher.password), { url: b.url });
    const seen = [sa, sb, st].map((s) => collect(s, box));
    for (const s of [sa, sb, st]) {
      const ack = await ask(s, 'start-container-logs', { containerName: box });
      assert.equal(ack.ok, true, JSON.stringify(ack));
    }
    a.open(box);
    await Promise.all(seen.map((c) => c.until((st2) => st2.lines.length >= 2000)));
    for (const c of seen) assert.deepEqual(texts(c.lines), range(1, 2000));
    // Nothing more arrives (no second copy from the other node).
    await Promise.all(seen.map((c) => c.until((st2) => st2.events.some((e) => e.event === 'container-log-end'))));
    for (const c of seen) assert.equal(c.lines.length, 2000);
  });

  test('logout on node A ends the session\'s sockets on node B, and only those', async () => {
    const cookie = await a.login(alice.name, alice.password);
    const other = await b.connect(await b.login(alice.name, alice.password), { url: b.url });
    const sb = await b.connect(cookie, { url: b.url, transports: ['websocket'] });
    const gone = new Promise((r) => sb.once('disconnect', r));
    const res = await fetch(`${a.url}/api/logout`, { method: 'POST', headers: { cookie } });
    assert.equal(res.status, 204);
    assert.equal(await deadline(gone, 10_000, 'the socket on node B to end'), 'io server disconnect');
    assert.ok(other.connected, "another session's socket on B stays");
    await assert.rejects(b.connect(cookie, { url: b.url }), /unauthenticated/);
  });

  test('revoking a user through the CLI ends their sockets on every node', async () => {
    const u = a.addUser('carol', 'student');
    const cookie = await a.login(u.name, u.password);
    const sa = await a.connect(cookie);
    const sb = await b.connect(cookie, { url: b.url });
    const gone = [sa, sb].map((s) => new Promise((r) => s.once('disconnect', r)));
    const r = b.cli(['user', 'revoke', 'carol']);
    assert.equal(r.code, 0, r.stderr);
    await deadline(Promise.all(gone), 10_000, 'both sockets to end');
  });
});

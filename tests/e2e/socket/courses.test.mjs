// Courses against the real labtail, a real Docker engine and real
// databases: two instructors of two courses over one engine each see only
// their students' containers (live, on the dashboard, in history and in
// exports); a student in both courses shows up for each only with that
// course's containers; dropping a student ends the instructor's view of
// them within the re-check interval, on two nodes; a bad roster changes
// nothing.

import { test, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { World, ask, collect, texts, deadline, poll, freshPostgres } from '../lib/harness.mjs';

const worlds = [];
const world = (opts) => { const w = new World(opts); worlds.push(w); return w; };
const cleanups = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) await w.cleanup();
  for (const c of cleanups.splice(0)) c();
});

async function api(w, cookie, path) {
  const res = await fetch(`${w.url}${path}`, { headers: { cookie } });
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, body: type.includes('json') ? await res.json() : await res.arrayBuffer() };
}

function cliOk(w, args, input) {
  const r = w.cli(args, input);
  assert.equal(r.code, 0, `labtail ${args.join(' ')}: ${r.stderr}`);
  return r;
}

/** Writes a roster and enrols it. */
function enrol(w, course, rows) {
  const file = `${w.dataDir}/${course}-${Math.random().toString(16).slice(2)}.csv`;
  writeFileSync(file, `username,role\n${rows.map(([u, r]) => `${u},${r}`).join('\n')}\n`);
  return cliOk(w, ['course', 'enrol', course, '--csv', file]);
}

/**
 * The class of the tests: tess teaches NET101 (amy, cat), ivan teaches
 * SEC201 (bob, cat); cat has a container of each course and an unlabelled
 * one; adm is an admin. Every container prints `hello from <name>` and
 * stays up.
 */
function school(w) {
  const users = {};
  for (const [n, r] of [['tess', 'instructor'], ['ivan', 'instructor'], ['adm', 'admin'],
    ['amy', 'student'], ['bob', 'student'], ['cat', 'student']]) users[n] = w.addUser(n, r);
  cliOk(w, ['course', 'add', 'NET101']);
  cliOk(w, ['course', 'add', 'SEC201']);
  enrol(w, 'NET101', [['tess', 'instructor'], ['amy', 'student'], ['cat', 'student']]);
  enrol(w, 'SEC201', [['ivan', 'instructor'], ['bob', 'student'], ['cat', 'student']]);
  const run = (owner, course, tag) => {
    const name = `${tag}-${w.id}`;
    const extra = course ? ['--label', `labtail.course=${course}`] : [];
    return w.run(owner, `echo "hello from ${name}"; while true; do sleep 1; done`, extra, name);
  };
  const c = {
    amy: run('amy', null, 'amy'),
    bob: run('bob', null, 'bob'),
    catNet: run('cat', 'NET101', 'catnet'),
    catSec: run('cat', 'SEC201', 'catsec'),
    catAny: run('cat', null, 'catany'),
  };
  const sees = {
    tess: [c.amy, c.catNet, c.catAny],
    ivan: [c.bob, c.catSec, c.catAny],
    adm: Object.values(c),
  };
  return { users, c, sees };
}

const sorted = (a) => [...a].sort();

describe('two instructors, two courses, one engine', () => {
  test('each sees only their students: lists, streams, dashboard, updates, history, exports', async () => {
    const w = world();
    await w.start();
    const { users, c, sees } = school(w);
    const cookie = {};
    for (const n of ['tess', 'ivan', 'adm', 'cat']) cookie[n] = await w.login(n, users[n].password);

    // Lists, over Socket.IO and HTTP.
    for (const n of ['tess', 'ivan', 'adm']) {
      const s = await w.connect(cookie[n]);
      const ack = await ask(s, 'list-containers', {});
      assert.deepEqual(sorted(ack.containers.map((x) => x.name)), sorted(sees[n]), n);
      const http = (await api(w, cookie[n], '/api/containers')).body;
      assert.deepEqual(sorted(http.map((x) => x.name)), sorted(sees[n]), n);
    }
    const me = (await api(w, cookie.cat, '/api/me')).body;
    assert.deepEqual(me, { username: 'cat', role: 'student', courses: ['NET101', 'SEC201'] });

    // Streams: "not in your courses" answers like "does not exist".
    const tess = await w.connect(cookie.tess);
    for (const name of [c.bob, c.catSec, `nothing-${w.id}`]) {
      const ack = await ask(tess, 'start-container-logs', { containerName: name, tail: 10 });
      assert.equal(ack.ok, false, name);
      assert.equal(ack.error.code, 'forbidden_or_missing', name);
    }
    const got = collect(tess, c.catNet);
    assert.equal((await ask(tess, 'start-container-logs', { containerName: c.catNet, tail: 10 })).ok, true);
    await got.until((st) => texts(st.lines).includes(`hello from ${c.catNet}`), 30_000);

    // The dashboard: every snapshot tess gets holds her students' rows
    // only, each with the course it counts for.
    const snaps = [];
    tess.on('dashboard', (d) => snaps.push(d));
    assert.equal((await ask(tess, 'watch-dashboard', {})).ok, true);
    const full = await poll(() => snaps.find((d) => d.containers.length === sees.tess.length), 30_000, 'a full dashboard');
    assert.deepEqual(sorted(full.containers.map((r) => r.name)), sorted(sees.tess));
    const row = (name) => full.containers.find((r) => r.name === name);
    assert.deepEqual(row(c.catAny).courses, ['NET101']);
    assert.deepEqual(row(c.catNet).courses, ['NET101']);
    // An admin on the same node gets every row.
    const adm = await w.connect(cookie.adm);
    const admSnaps = [];
    adm.on('dashboard', (d) => admSnaps.push(d));
    await ask(adm, 'watch-dashboard', {});
    await poll(() => admSnaps.find((d) => d.containers.length === sees.adm.length), 30_000, 'the admin\'s dashboard');

    // Lifecycle updates: bob's new container first, then amy's; tess gets
    // amy's and never bob's.
    const updates = [];
    tess.on('container-update', (u) => updates.push(u));
    const bob2 = w.run('bob', 'sleep 3600', [], `bob2-${w.id}`);
    const amy2 = w.run('amy', 'sleep 3600', [], `amy2-${w.id}`);
    await poll(() => updates.find((u) => u.name === amy2 && u.state === 'running') ? true : undefined, 30_000, 'amy2 running');
    assert.ok(!updates.some((u) => u.owner === 'bob' || u.name === bob2), JSON.stringify(updates));
    assert.ok(snaps.every((d) => d.containers.every((r) => sees.tess.includes(r.name) || r.name === amy2)),
      'a dashboard snapshot showed tess a container outside her courses');

    // History: a search over the class finds only her students' lines.
    await deadline((async () => {
      for (;;) {
        const r = await api(w, cookie.tess, '/api/history/search?q=hello%20from&limit=50');
        if (r.status === 200 && r.body.hits.length >= sees.tess.length) return;
        await new Promise((res) => setTimeout(res, 200));
      }
    })(), 60_000, 'the class\'s lines in history');
    const found = (await api(w, cookie.tess, '/api/history/search?q=hello%20from&limit=50')).body;
    assert.deepEqual(sorted(new Set(found.hits.map((h) => h.containerName))), sorted(sees.tess));
    assert.equal((await api(w, cookie.tess, `/api/history/${c.bob}/lines?limit=5`)).status, 404);
    assert.equal((await api(w, cookie.tess, '/api/history/search?q=hello&owner=bob')).status, 404);
    assert.equal((await api(w, cookie.tess, `/api/history/export?container=${c.catSec}`)).status, 404);
    const ivanFound = (await api(w, cookie.ivan, '/api/history/search?q=hello%20from&limit=50')).body;
    assert.ok(ivanFound.hits.every((h) => sees.ivan.includes(h.containerName)), JSON.stringify(ivanFound.hits));
  });
});

/**
 * Waits for `container-log-end {reason: "revoked"}` of `name` on a socket
 * that watches it.
 */
function revoked(state, name) {
  return state.until((st) => st.events.some((e) => e.event === 'container-log-end'
    && e.containerName === name && e.reason === 'revoked'), 30_000);
}

describe('leaving takes effect', () => {
  test('dropping a student ends the instructor\'s live view of them on two nodes', async () => {
    const pg = freshPostgres();
    cleanups.push(pg.drop);
    const a = world({ databaseUrl: pg.url });
    await a.start();
    const b = world({ databaseUrl: pg.url, label: a.label });
    await b.start();
    const { users, c } = school(a);
    const cookie = await a.login('tess', users.tess.password);
    // One socket on each node, each watching cat's NET101 container and
    // amy's (who stays).
    const watchers = [];
    for (const url of [a.url, b.url]) {
      const s = await a.connect(cookie, { url });
      const cat = collect(s, c.catNet);
      const amy = collect(s, c.amy);
      for (const name of [c.catNet, c.amy]) {
        assert.equal((await ask(s, 'start-container-logs', { containerName: name, tail: 5 })).ok, true);
      }
      await cat.until((st) => st.lines.length > 0, 30_000);
      const snaps = [];
      s.on('dashboard', (d) => snaps.push(d));
      await ask(s, 'watch-dashboard', {});
      watchers.push({ s, cat, amy, snaps });
    }
    cliOk(a, ['course', 'drop', 'NET101', 'cat']);
    for (const wt of watchers) {
      await revoked(wt.cat, c.catNet);
      // The dashboard follows: cat's rows go, amy's stay.
      const snap = await poll(() => {
        const d = wt.snaps.at(-1);
        return d && !d.containers.some((r) => r.owner === 'cat') ? d : undefined;
      }, 30_000, 'a dashboard without cat');
      assert.ok(snap.containers.some((r) => r.name === c.amy));
      assert.ok(!wt.amy.events.some((e) => e.event === 'container-log-end'), 'amy\'s watch ended too');
      const again = await ask(wt.s, 'start-container-logs', { containerName: c.catNet, tail: 5 });
      assert.equal(again.error?.code, 'forbidden_or_missing');
    }
    const audit = a.cli(['audit', '--json', '--user', 'cat', '--limit', '50']).stdout;
    assert.ok(audit.split('\n').some((l) => l.includes('"enrolment"') && l.includes('dropped from NET101')), audit);
  });
});

describe('rosters', () => {
  test('a malformed roster names the line and changes nothing', async () => {
    const w = world();
    w.addUser('tess', 'instructor');
    cliOk(w, ['course', 'add', 'NET101']);
    const before = cliOk(w, ['course', 'list']).stdout;
    const users = cliOk(w, ['user', 'list']).stdout;
    const bad = `${w.dataDir}/bad.csv`;
    writeFileSync(bad, 'username,role\nnew1,student\ntess,instructor\nnew2,professor\n');
    const out = `${w.dataDir}/passwords.csv`;
    const r = w.cli(['course', 'enrol', 'NET101', '--csv', bad, '--passwords-out', out]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /line 4/);
    assert.match(r.stderr, /professor/);
    assert.equal(cliOk(w, ['course', 'list']).stdout, before);
    assert.equal(cliOk(w, ['user', 'list']).stdout, users);

    // A good one creates the missing users; their passwords are in the
    // file only, and they work.
    const good = `${w.dataDir}/good.csv`;
    writeFileSync(good, 'username,role\nnew1,student\ntess,instructor\n');
    const ok = cliOk(w, ['course', 'enrol', 'NET101', '--csv', good, '--passwords-out', out]);
    const [, line] = (await import('node:fs')).readFileSync(out, 'utf8').trim().split('\n');
    const [name, password] = line.split(',');
    assert.equal(name, 'new1');
    assert.ok(!ok.stdout.includes(password) && !ok.stderr.includes(password), 'a password was printed');
    assert.match(cliOk(w, ['course', 'list']).stdout, /NET101\s+tess\s+new1/);
    await w.start();
    await w.login('new1', password);
    // Without --passwords-out a roster that needs new users is refused.
    writeFileSync(good, 'username,role\nnew3,student\n');
    const refused = w.cli(['course', 'enrol', 'NET101', '--csv', good]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--passwords-out/);
    assert.doesNotMatch(cliOk(w, ['user', 'list']).stdout, /new3/);
  });
});

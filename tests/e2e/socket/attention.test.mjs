// Attention against the real labtail, a real Docker engine and real
// databases: containers that crash, run out of memory, loop under a restart
// policy, fail their health check, go silent, burst errors, match a lab's
// rules and reach its checkpoints; each shows once on the instructors'
// dashboard with the line that raised it, survives a restart, is
// acknowledged on every node at once and notifies a webhook (signed) once.
// Students raise hands on their own lines and get the answer; they never see
// or touch anything of another student's.

import { test, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { World, BIN, ask, collect, poll, freshPostgres } from '../lib/harness.mjs';

const worlds = [];
const world = (opts) => { const w = new World(opts); worlds.push(w); return w; };
afterEach(async () => { for (const w of worlds.splice(0)) await w.cleanup(); });

/** GET/PUT an API path with a session cookie; resolves with {status, body, text}. */
async function api(w, cookie, path, { method = 'GET', body, url = w.url } = {}) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { cookie, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, text, body: type.includes('json') ? JSON.parse(text) : undefined };
}

/**
 * An instructor's dashboard: every snapshot kept; `until(pred)` waits for
 * the first snapshot that satisfies it.
 */
async function dashboard(w, cookie, url = w.url) {
  const s = await w.connect(cookie, { url });
  const snaps = [];
  s.on('dashboard', (d) => snaps.push(d));
  const ack = await ask(s, 'watch-dashboard', {});
  assert.equal(ack.ok, true, JSON.stringify(ack));
  return {
    socket: s,
    snaps,
    // On a timeout, says what the last snapshot's list held.
    until: (pred, what, ms = 90_000) => poll(() => {
      for (let i = snaps.length - 1; i >= 0; i--) if (pred(snaps[i])) return snaps[i];
      return undefined;
    }, ms, what).catch((e) => {
      const last = snaps.at(-1)?.attention?.map((x) => `${x.containerName}/${x.signal}/${x.state}`);
      throw new Error(`${e.message}; the last list: ${JSON.stringify(last)}`);
    }),
  };
}

const entryOf = (snap, container, signal) =>
  snap.attention.filter((e) => e.containerName === container && e.signal === signal);

/** No (container, signal) pair twice: one entry per student, container and signal. */
function assertOnePerSignal(list) {
  const keys = list.map((e) => `${e.containerName}/${e.signal}`);
  assert.deepEqual(keys.length, new Set(keys).size, `duplicate entries: ${keys.join(', ')}`);
}

/** The line a cursor points at, read back from history (what a click opens). */
async function lineAt(w, cookie, name, cursor) {
  const page = await api(w, cookie, `/api/history/${encodeURIComponent(name)}/lines?around=${encodeURIComponent(cursor)}&limit=5`);
  assert.equal(page.status, 200, page.text);
  return page.body.lines.find((l) => l.cursor === cursor);
}

const labsFile = (w, text) => {
  const p = join(w.dataDir, 'labs.toml');
  writeFileSync(p, text);
  return p;
};

const NET_LAB = `
[[lab]]
name = "net"

[[lab.rule]]
pattern = "Traceback \\\\(most recent call last\\\\)|Segmentation fault"
severity = "error"
title = "the program crashed"

[[lab.checkpoint]]
name = "tests"
pattern = "tests passed"

[[lab.checkpoint]]
name = "deployed"
pattern = "deployed to \\\\w+"
`;

// Thresholds small enough for a test, each a documented knob.
const FAST = [
  '--attention-restart-loop-starts', '3', '--attention-restart-loop-window', '2m',
  '--attention-burst-lines', '5', '--attention-burst-window', '60s',
  '--attention-silent-after', '3s',
];

describe('signals', () => {
  test('real containers raise each signal once, with its line; checkpoints and the gradebook; all survive a restart', async () => {
    const w = world();
    await w.start(['--labs-file', labsFile(w, NET_LAB), ...FAST]);
    const ann = w.addUser('ann', 'student');
    const bob = w.addUser('bob', 'student');
    const tea = w.addUser('tea', 'instructor');
    const lab = ['--label', 'labtail.lab=net'];
    const n = (s) => `${s}-${w.id}`;
    // Two busy classmates keep the class active (so silence means something).
    w.run('bob', 'while :; do echo tick; sleep 0.3; done', lab, n('chatty'));
    w.run('ann', `${World.gate}echo building; echo "tests passed"; `
      + 'echo "Traceback (most recent call last):"; echo "  File main.py, line 3"; '
      + 'while :; do echo tock; sleep 0.3; done', lab, n('work'));
    w.run('bob', `${World.gate}echo "segfault coming" >&2; exit 3`, lab, n('crash'));
    // OOM: a pipeline holding one 200 MB line under a 16 MB limit; the
    // shell survives its child's kill, so this is Docker's oom event alone.
    w.run('ann', 'echo start; head -c 200000000 /dev/zero | tr "\\0" a | sed -n p; echo "after $?"; sleep 600',
      [...lab, '-m', '16m', '--memory-swap', '16m'], n('oom'));
    w.run('bob', 'echo "starting server"; echo "address already in use" >&2; exit 1',
      [...lab, '--restart', 'always'], n('loop'));
    w.run('ann', 'echo up; sleep 600',
      [...lab, '--health-cmd', 'false', '--health-interval', '1s', '--health-retries', '1'], n('sick'));
    w.run('bob', `${World.gate}i=0; while [ $i -lt 12 ]; do echo "ERROR: request $i failed" >&2; i=$((i+1)); done; `
      + 'while :; do echo fine; sleep 0.3; done', lab, n('burst'));
    w.run('ann', 'echo "hello"; sleep 600', lab, n('quiet'));

    const teaCookie = await w.login(tea.name, tea.password);
    // Open the gated ones once labtail records them (from their first line).
    const board = await dashboard(w, teaCookie);
    await board.until((d) => [n('work'), n('crash'), n('burst')].every((c) => d.containers.some((r) => r.name === c)), 'the gated containers on the dashboard');
    for (const c of [n('work'), n('crash'), n('burst')]) w.open(c);

    const want = [
      [n('crash'), 'crashed', 'error'],
      [n('oom'), 'oom', 'error'],
      [n('loop'), 'restart-loop', 'error'],
      [n('sick'), 'unhealthy', 'warning'],
      [n('burst'), 'error-burst', 'warning'],
      [n('quiet'), 'silent', 'info'],
      [n('work'), 'rule', 'error'],
    ];
    const snap = await board.until(
      (d) => want.every(([c, s]) => entryOf(d, c, s).length > 0),
      'every signal on the dashboard', 120_000);
    assertOnePerSignal(snap.attention);
    for (const [c, s, severity] of want) {
      const [e] = entryOf(snap, c, s);
      assert.equal(e.severity, severity, `${c} ${s}`);
      assert.equal(e.state, 'open');
      assert.equal(e.lab, 'net');
      assert.ok(e.count >= 1 && e.firstAt <= e.lastAt, JSON.stringify(e));
      assert.equal(e.owner, c.startsWith('chatty') || ['crash', 'loop', 'burst'].some((k) => c.startsWith(k)) ? 'bob' : 'ann');
    }
    // Urgent first: every error before every warning before every info.
    const rank = { error: 0, warning: 1, info: 2 };
    const ranks = snap.attention.map((e) => rank[e.severity]);
    assert.deepEqual(ranks, [...ranks].sort((a, b) => a - b), 'most urgent first');

    // Evidence: the lines that raised it, each one a permalink into history.
    const evidence = (c, s) => entryOf(snap, c, s)[0].evidence;
    const rule = entryOf(snap, n('work'), 'rule')[0];
    assert.equal(rule.title, 'the program crashed');
    const tb = rule.evidence.find((l) => l.text === 'Traceback (most recent call last):');
    assert.ok(tb, JSON.stringify(rule.evidence));
    assert.equal((await lineAt(w, teaCookie, n('work'), tb.cursor)).text, tb.text);
    assert.ok(evidence(n('crash'), 'crashed').some((l) => l.text === 'segfault coming' && l.stream === 'stderr'));
    assert.match(entryOf(snap, n('crash'), 'crashed')[0].title, /3/);
    assert.ok(evidence(n('burst'), 'error-burst').every((l) => /^ERROR: request \d+ failed$/.test(l.text)));
    assert.ok(evidence(n('burst'), 'error-burst').length > 0);
    assert.ok(evidence(n('oom'), 'oom').some((l) => l.text === 'start'));
    // The error lines also carry their level on the wire.
    const hist = await api(w, teaCookie, `/api/history/${n('burst')}/lines?head=true&limit=30`);
    const errs = hist.body.lines.filter((l) => l.text.startsWith('ERROR: '));
    assert.ok(errs.length > 0 && errs.every((l) => l.level === 'error'), JSON.stringify(hist.body.lines));
    assert.ok(hist.body.lines.filter((l) => l.text === 'fine').every((l) => l.level === undefined));

    // Checkpoints: the dashboard's row, the student's own list, the gradebook.
    const row = (await board.until((d) => d.containers.find((r) => r.name === n('work') && r.checkpoints?.some((c) => c.reachedAt)), 'work reaching a checkpoint'))
      .containers.find((r) => r.name === n('work'));
    const byName = Object.fromEntries(row.checkpoints.map((c) => [c.name, c]));
    assert.deepEqual(Object.keys(byName).sort(), ['deployed', 'tests']);
    assert.equal(byName.deployed.reachedAt, undefined);
    assert.equal((await lineAt(w, teaCookie, n('work'), byName.tests.cursor)).text, 'tests passed');
    const annCookie = await w.login(ann.name, ann.password);
    const annList = (await api(w, annCookie, '/api/containers')).body;
    assert.deepEqual(annList.find((c) => c.name === n('work')).checkpoints, row.checkpoints);
    const book = await api(w, teaCookie, '/api/labs/net/gradebook.csv');
    assert.equal(book.status, 200);
    const rows = book.text.trim().split(/\r?\n/);
    assert.equal(rows[0], 'student,lab,checkpoint,reached_at,cursor');
    assert.ok(rows.includes(`ann,net,tests,${byName.tests.reachedAt},${byName.tests.cursor}`), book.text);
    assert.ok(rows.includes('ann,net,deployed,,'), book.text);
    assert.ok(rows.includes('bob,net,tests,,'), book.text);
    assert.equal((await api(w, annCookie, '/api/labs/net/gradebook.csv')).status, 403);

    // A checkpoint defined after the fact is found in history, with its line.
    const bad = await api(w, teaCookie, '/api/labs/net', { method: 'PUT', body: {
      name: 'net', rule: [{ pattern: 'a(b', severity: 'error', title: 'broken' }], checkpoint: [] } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'invalid_payload');
    assert.match(bad.body.error.message, /broken/);
    const def = (await api(w, teaCookie, '/api/labs/net')).body;
    def.checkpoint.push({ name: 'built', pattern: '^building$' });
    assert.equal((await api(w, teaCookie, '/api/labs/net', { method: 'PUT', body: def })).status, 200);
    const late = (await board.until((d) => d.containers.find((r) => r.name === n('work'))?.checkpoints?.find((c) => c.name === 'built' && c.reachedAt), 'the late checkpoint reached from history'))
      .containers.find((r) => r.name === n('work')).checkpoints.find((c) => c.name === 'built');
    assert.equal((await lineAt(w, teaCookie, n('work'), late.cursor)).text, 'building');

    // A restart keeps every entry as it was (ids, states), and adds none twice.
    const before = (await api(w, teaCookie, '/api/attention')).body;
    assertOnePerSignal(before);
    await w.restart();
    const teaAgain = await w.login(tea.name, tea.password);
    const afterRestart = (await api(w, teaAgain, '/api/attention')).body;
    assertOnePerSignal(afterRestart);
    for (const [c, s] of want) {
      const a = before.find((e) => e.containerName === c && e.signal === s);
      const b = afterRestart.find((e) => e.containerName === c && e.signal === s);
      assert.ok(b, `${c} ${s} after the restart`);
      assert.equal(b.id, a.id, `${c} ${s} keeps its id`);
    }
    const board2 = await dashboard(w, teaAgain);
    const snap2 = await board2.until((d) => d.attention.length >= want.length, 'the dashboard after the restart');
    assertOnePerSignal(snap2.attention);
    // Checkpoints survive too.
    const row2 = (await board2.until((d) => d.containers.find((r) => r.name === n('work'))?.checkpoints?.some((c) => c.reachedAt), 'checkpoints after the restart'))
      .containers.find((r) => r.name === n('work'));
    assert.equal(row2.checkpoints.find((c) => c.name === 'tests').cursor, byName.tests.cursor);
    // Bob never appears in ann's list and the other way round.
    const bobCookie = await w.login(bob.name, bob.password);
    const bobList = (await api(w, bobCookie, '/api/containers')).body;
    assert.ok(bobList.every((c) => c.owner === 'bob'));
    assert.equal((await api(w, bobCookie, '/api/attention')).status, 403);
  });

  test('a bad pattern in --labs-file stops labtail with the lab, the rule and the position', () => {
    const w = world();
    const file = labsFile(w, '[[lab]]\nname = "web"\n[[lab.rule]]\npattern = "ok|(unclosed"\nseverity = "error"\ntitle = "half a group"\n');
    const r = spawnSync(BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', w.dataDir, '--labs-file', file],
      { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /lab web, rule 1 \("half a group"\): unclosed group \(at position 3\)/);
  });
});

describe('runaway', () => {
  test('a container at its CPU limit and one near its memory limit are runaways, a calm one with limits is not', async () => {
    const w = world();
    // Sampled every second; three hot samples in a row (knobs, documented).
    await w.start(['--attention-runaway-interval', '1s', '--attention-runaway-samples', '3',
      '--attention-runaway-cpu', '0.7', '--attention-runaway-memory', '0.5']);
    const ann = w.addUser('ann', 'student');
    const tea = w.addUser('tea', 'instructor');
    const n = (s) => `${s}-${w.id}`;
    // A busy loop under --cpus 0.2 uses all of its 0.2 CPUs, however busy
    // the machine (its share of two cores is larger than that).
    w.run('ann', 'echo spinning; while :; do :; done', ['--cpus', '0.2'], n('spin'));
    // tail holds the last 40 MB it read (the pipe stays open): 40 of 64 MB.
    w.run('ann', 'echo holding; (head -c 40000000 /dev/zero; sleep 600) | tail -c 40000000 >/dev/null',
      ['-m', '64m', '--memory-swap', '64m'], n('hog'));
    w.run('ann', 'echo calm; sleep 600', ['--cpus', '0.5', '-m', '64m'], n('calm'));
    const cookie = await w.login(tea.name, tea.password);
    const board = await dashboard(w, cookie);
    const snap = await board.until(
      (d) => entryOf(d, n('spin'), 'runaway').length > 0 && entryOf(d, n('hog'), 'runaway').length > 0,
      'both runaways on the dashboard', 120_000);
    assertOnePerSignal(snap.attention);
    const [spin] = entryOf(snap, n('spin'), 'runaway');
    const [hog] = entryOf(snap, n('hog'), 'runaway');
    assert.match(spin.title, /^CPU at \d+ % of its limit \(0\.2 CPUs\) for 3 s$/, spin.title);
    assert.match(hog.title, /^memory at \d+ % of its limit \(64 MiB\) for 3 s$/, hog.title);
    assert.equal(spin.severity, 'warning');
    assert.equal(spin.owner, 'ann');
    assert.ok(spin.evidence.some((l) => l.text === 'spinning'), JSON.stringify(spin.evidence));
    assert.ok(hog.evidence.some((l) => l.text === 'holding'), JSON.stringify(hog.evidence));
    // The calm one was sampled as often (its entries would be there by now).
    assert.deepEqual(snap.attention.filter((e) => e.containerName === n('calm')), []);
    // Told once: more hot samples do not make a second entry.
    const later = await board.until((d) => d !== snap && d.attention.length > 0, 'a later snapshot');
    assertOnePerSignal(later.attention);
  });
});

describe('hands and who may touch what', () => {
  test('a student raises a hand on a line; the instructor sees it with its context and answers; nobody else sees or touches it', async () => {
    const w = world();
    await w.start(['--labs-file', labsFile(w, NET_LAB)]);
    const ann = w.addUser('ann', 'student');
    const bob = w.addUser('bob', 'student');
    const tea = w.addUser('tea', 'instructor');
    const box = w.run('ann', `${World.gate}for i in 1 2 3 4 5 6 7; do echo "step $i"; done; `
      + 'echo "ERROR: cannot bind port 80"; echo "WARN disk almost full"; echo \'{"level":"debug","msg":"x"}\'; '
      + 'while [ ! -e /tmp/again ]; do sleep 0.05; done; echo "Segmentation fault"; '
      + 'while [ ! -e /tmp/again2 ]; do sleep 0.05; done; echo "Segmentation fault"; sleep 600',
    ['--label', 'labtail.lab=net']);
    const annCookie = await w.login(ann.name, ann.password);
    const bobCookie = await w.login(bob.name, bob.password);
    const teaCookie = await w.login(tea.name, tea.password);
    const annS = await w.connect(annCookie);
    const c = collect(annS, box);
    assert.equal((await ask(annS, 'start-container-logs', { containerName: box, tail: 100 })).ok, true);
    w.open(box);
    await c.until((st) => st.lines.some((l) => l.text.startsWith('{"level"')), 60_000, 'every line');
    // Levels, where the line says one.
    const level = (t) => c.lines.find((l) => l.text === t)?.level;
    assert.equal(level('ERROR: cannot bind port 80'), 'error');
    assert.equal(level('WARN disk almost full'), 'warn');
    assert.equal(level('{"level":"debug","msg":"x"}'), 'debug');
    assert.equal(level('step 1'), undefined);

    // Ann asks about "step 4".
    const step4 = c.lines.find((l) => l.text === 'step 4');
    const hand = await ask(annS, 'raise-hand', { containerName: box, cursor: step4.cursor, message: 'why does it stop here?' });
    assert.equal(hand.ok, true, JSON.stringify(hand));
    assert.equal(typeof hand.id, 'number');
    // Bob cannot raise one on ann's container, nor on one that is not there;
    // both answers alike.
    const bobS = await w.connect(bobCookie);
    const bobGot = [];
    bobS.on('hand-answer', (m) => bobGot.push(m));
    for (const name of [box, `nothing-${w.id}`]) {
      const r = await ask(bobS, 'raise-hand', { containerName: name, cursor: step4.cursor, message: 'hi' });
      assert.equal(r.error?.code, 'forbidden_or_missing', JSON.stringify(r));
    }
    // A blank message says nothing: refused.
    const blank = await ask(annS, 'raise-hand', { containerName: box, cursor: step4.cursor, message: '   ' });
    assert.equal(blank.error?.code, 'invalid_payload', JSON.stringify(blank));
    // A cursor that is not of this container is refused, clearly.
    const wrong = await ask(annS, 'raise-hand', { containerName: box, cursor: '0000000000000000000-0-0', message: 'x' });
    assert.ok(wrong.error, JSON.stringify(wrong));
    // Students cannot acknowledge, dismiss or answer, nor watch the dashboard.
    for (const [ev, p] of [['ack-attention', { id: hand.id }], ['dismiss-attention', { id: hand.id }],
      ['answer-hand', { id: hand.id, message: 'x' }], ['watch-dashboard', {}]]) {
      for (const s of [annS, bobS]) {
        const r = await ask(s, ev, p);
        assert.equal(r.error?.code, 'forbidden', `${ev}: ${JSON.stringify(r)}`);
      }
    }
    assert.equal((await api(w, annCookie, '/api/attention')).status, 403);
    assert.equal((await api(w, annCookie, '/api/labs')).status, 403);

    // The instructor sees the hand with its line and the neighbours.
    const board = await dashboard(w, teaCookie);
    const snap = await board.until((d) => d.attention.some((e) => e.id === hand.id), 'the hand on the dashboard');
    const e = snap.attention.find((x) => x.id === hand.id);
    assert.equal(e.signal, 'hand');
    assert.equal(e.owner, 'ann');
    assert.equal(e.containerName, box);
    assert.equal(e.message, 'why does it stop here?');
    const texts = e.evidence.map((l) => l.text);
    assert.ok(texts.includes('step 4') && texts.includes('step 3') && texts.includes('step 5'), `evidence: ${texts.join('|')}`);
    assert.ok(e.evidence.some((l) => l.cursor === step4.cursor));

    // The answer reaches ann's sockets (and only hers).
    const annGot = [];
    annS.on('hand-answer', (m) => annGot.push(m));
    const teaS = board.socket;
    assert.equal((await ask(teaS, 'answer-hand', { id: hand.id, message: 'on my way' })).ok, true);
    await poll(() => annGot.length > 0 || undefined, 30_000, 'the answer in ann\'s viewer');
    assert.deepEqual(annGot[0], { id: hand.id, containerName: box, message: 'on my way', from: 'tea' });
    await ask(bobS, 'list-containers', {});
    assert.deepEqual(bobGot, []);
    const answered = await board.until((d) => d.attention.find((x) => x.id === hand.id)?.answer === 'on my way', 'the answer on the dashboard');
    assert.ok(answered);
    // A reload (or a student offline when it came) loses nothing: her own
    // hands, with the answer and who gave it; nobody else's.
    const own = await api(w, annCookie, '/api/hands');
    assert.equal(own.status, 200, own.text);
    assert.deepEqual(own.body.map((h) => [h.id, h.containerName, h.cursor, h.lineText, h.message, h.answer]),
      [[hand.id, box, step4.cursor, 'step 4', 'why does it stop here?', { id: hand.id, containerName: box, message: 'on my way', from: 'tea' }]]);
    assert.deepEqual((await api(w, bobCookie, '/api/hands')).body, []);
    assert.equal((await api(w, '', '/api/hands')).status, 401);

    // Acknowledge (shared), dismiss, and a new occurrence comes back.
    assert.equal((await ask(teaS, 'ack-attention', { id: hand.id })).ok, true);
    await board.until((d) => d.attention.find((x) => x.id === hand.id)?.state === 'acknowledged', 'acknowledged');
    w.docker('exec', box, 'touch', '/tmp/again');
    const ruled = await board.until((d) => d.attention.some((x) => x.containerName === box && x.signal === 'rule'), 'the rule entry');
    const r1 = ruled.attention.find((x) => x.containerName === box && x.signal === 'rule');
    assert.equal((await ask(teaS, 'dismiss-attention', { id: r1.id })).ok, true);
    await board.until((d) => !d.attention.some((x) => x.id === r1.id), 'the dismissed entry gone');
    w.docker('exec', box, 'touch', '/tmp/again2');
    const again = await board.until((d) => d.attention.some((x) => x.containerName === box && x.signal === 'rule' && x.id !== r1.id), 'the rule again, as a new entry');
    const r2 = again.attention.find((x) => x.containerName === box && x.signal === 'rule');
    assert.equal(r2.state, 'open');
    // Unknown ids answer like others' ids.
    const none = await ask(teaS, 'ack-attention', { id: 987654321 });
    assert.equal(none.error?.code, 'forbidden_or_missing');
  });
});

describe('several nodes', () => {
  test('two nodes on Postgres: each signal once, an acknowledgement on both at once, one signed webhook', async () => {
    const pg = freshPostgres();
    after(() => pg.drop());
    const secret = `s3cret-${Date.now()}`;
    const hooks = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => { hooks.push({ headers: req.headers, body }); res.writeHead(204).end(); });
    });
    await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
    after(() => receiver.close());
    const hookUrl = `http://127.0.0.1:${receiver.address().port}/hook`;
    const a = world({ databaseUrl: pg.url });
    const b = world({ databaseUrl: pg.url, label: a.label });
    const secretFile = join(a.dataDir, 'hook.key');
    writeFileSync(secretFile, `${secret}\n`);
    const args = ['--attention-webhook', hookUrl, '--attention-webhook-secret-file', secretFile,
      '--public-url', 'https://labs.example.edu'];
    await a.start(args);
    await b.start(args);
    a.addUser('tea', 'instructor', 'pw-tea');
    a.addUser('ann', 'student', 'pw-ann');
    const box = a.run('ann', `${World.gate}echo "the secret line of ann's work" >&2; exit 7`);
    const boards = [await dashboard(a, await a.login('tea', 'pw-tea')), await dashboard(b, await b.login('tea', 'pw-tea', b.url), b.url)];
    await boards[0].until((d) => d.containers.some((r) => r.name === box), 'the container on the dashboard');
    a.open(box);
    const seen = await Promise.all(boards.map((bd) => bd.until((d) => entryOf(d, box, 'crashed').length === 1, 'the crash on each node')));
    const id = entryOf(seen[0], box, 'crashed')[0].id;
    assert.equal(entryOf(seen[1], box, 'crashed')[0].id, id, 'the same entry on both nodes');
    for (const s of seen) assertOnePerSignal(s.attention);

    // The webhook: signed, the summary and a link, no log line.
    await poll(() => hooks.some((h) => JSON.parse(h.body).id === id) || undefined, 60_000, 'the webhook');
    const h = hooks.find((x) => JSON.parse(x.body).id === id);
    const mac = `sha256=${createHmac('sha256', secret).update(h.body).digest('hex')}`;
    assert.equal(h.headers['x-labtail-signature'], mac);
    const p = JSON.parse(h.body);
    assert.equal(p.signal, 'crashed');
    assert.equal(p.severity, 'error');
    assert.equal(p.owner, 'ann');
    assert.equal(p.containerName, box);
    assert.equal(p.link, `https://labs.example.edu/dashboard?attention=${id}`);
    assert.ok(!h.body.includes('secret line'), 'a webhook never carries log lines');

    // Acknowledged on node A: node B's dashboard shows it.
    assert.equal((await ask(boards[0].socket, 'ack-attention', { id })).ok, true);
    await boards[1].until((d) => entryOf(d, box, 'crashed')[0]?.state === 'acknowledged', 'the acknowledgement on node B', 30_000);

    // One notification per entry, not one per node: a second crash's webhook
    // arrives, and still only one for the first.
    const box2 = a.run('ann', 'exit 9');
    await poll(() => hooks.some((x) => JSON.parse(x.body).containerName === box2) || undefined, 60_000, 'the second webhook');
    assert.equal(hooks.filter((x) => JSON.parse(x.body).id === id).length, 1, 'one webhook per entry');
  });
});

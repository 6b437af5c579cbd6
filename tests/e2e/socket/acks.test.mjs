// Every event answered: the acknowledgement soak. A real labtail, a real
// Docker engine and real socket.io-client sockets that send their first
// event the instant they connect (queued before connect, from the connect
// callback, and the old Node client's `connect(); emit()` with no ack),
// then many list/start/stop rounds while a container streams thousands of
// lines per second and other sockets connect and disconnect; and a whole
// class reconnecting at once after labtail is killed.
//
// The bound: every ack within ACK_MS (generous for a loaded 2-core
// machine; on an idle one they take milliseconds). An event that reached
// no handler never gets one, so a lost event fails the test.

import { test, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { World, ask, collect, texts, deadline, poll } from '../lib/harness.mjs';

const ACK_MS = 20_000;

const worlds = [];
const world = () => { const w = new World(); worlds.push(w); return w; };
afterEach(async () => { for (const w of worlds.splice(0)) await w.cleanup(); });

/** Limits high enough that nothing here is refused: this is about answers. */
const ROOMY = ['--max-sockets-per-user', '2000', '--max-streams-per-user', '5000',
  '--socket-events-per-second', '1000', '--socket-events-burst', '1000',
  '--client-buffer-lines', '1000000', '--auth-recheck-interval', '2s'];

/** A socket.io-client socket that is not connected yet. */
function fresh(w, cookie, opts = {}) {
  const s = io(w.url, {
    autoConnect: false,
    forceNew: true,
    reconnection: false,
    transports: opts.transports ?? ['websocket'],
    extraHeaders: { cookie },
    timeout: ACK_MS,
  });
  w.sockets.push(s);
  return s;
}

/** Resolves with the ack of an event emitted now (queued if not connected). */
function emitAck(s, event, payload) {
  return new Promise((resolve, reject) => {
    s.timeout(ACK_MS).emit(event, payload, (err, ack) => {
      if (err) reject(new Error(`no answer to ${event} within ${ACK_MS} ms`));
      else resolve(ack);
    });
  });
}

function connected(s) {
  return deadline(new Promise((res, rej) => {
    if (s.connected) res();
    s.once('connect', res);
    s.once('connect_error', rej);
  }), ACK_MS, 'socket connect');
}

/** Sum of a counter over all its label sets. */
async function metricSum(w, name) {
  const text = await (await fetch(`${w.url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.split(' ').at(-1));
  }
  return sum;
}

/**
 * Follows a `seq`-counting container on a socket without keeping its lines:
 * checks as they come that each number is the one after the last.
 */
function counting(s, name) {
  const st = { count: 0, last: null, broken: null, gaps: 0 };
  s.on('container-log', (p) => {
    if (p.containerName !== name) return;
    for (const l of p.lines) {
      const n = Number(l.text);
      if (st.last !== null && n !== st.last + 1 && !st.broken) st.broken = `${st.last} then ${n}`;
      st.last = n;
      st.count++;
    }
  });
  s.on('container-log-gap', (p) => { if (p.containerName === name) st.gaps++; });
  return st;
}

describe('acknowledgements', () => {
  test('every event is answered: first events at connect, 10 000 rounds, churn, a busy stream', async () => {
    const w = world();
    await w.start(ROOMY);
    const sam = w.addUser('sam', 'student');
    const tim = w.addUser('tim', 'instructor');
    // About 5 000 lines/s, for as long as the test runs.
    const fast = w.run('sam', 'i=1; while true; do seq $i $((i+499)); i=$((i+500)); sleep 0.1; done');
    const quiet = w.run('sam', 'for i in 1 2 3 4 5; do echo hello $i; done; sleep 600');
    await poll(() => (w.docker('logs', quiet).includes('hello 5') ? true : undefined), 15_000, 'quiet output');
    const cookies = [];
    for (let i = 0; i < 6; i++) cookies.push(await w.login(sam.name, sam.password));
    const teacher = await w.login(tim.name, tim.password);
    const cookieOf = (i) => (i % 10 === 9 ? teacher : cookies[i % cookies.length]);

    // Watchers that keep watching the busy container all along.
    const watchers = [];
    for (let i = 0; i < 3; i++) {
      const s = await w.connect(cookies[i], { transports: ['websocket'] });
      const c = counting(s, fast);
      assert.equal((await ask(s, 'start-container-logs', { containerName: fast, tail: 0 })).ok, true);
      watchers.push(c);
    }
    await poll(() => (watchers.every((c) => c.count >= 1000) ? true : undefined), 30_000, 'the watchers\' first lines');
    const before = await metricSum(w, 'labtail_socket_events_total');
    let sent = 0;

    // 1. 240 sockets connect at once, each sending its first event the
    //    instant CONNECT arrives.
    const N = 240;
    const sockets = [];
    const firsts = [];
    const oldClients = [];
    for (let i = 0; i < N; i++) {
      const s = fresh(w, cookieOf(i), { transports: i % 4 === 0 ? ['polling', 'websocket'] : ['websocket'] });
      sockets.push(s);
      if (i % 3 === 0) {
        // Emitted before connect: socket.io-client queues it and sends it
        // right after CONNECT.
        firsts.push(emitAck(s, 'list-containers', {}));
        sent++;
        s.connect();
      } else if (i % 3 === 1) {
        // From the connect callback, as the web app restarts its watches.
        firsts.push(new Promise((resolve, reject) => {
          s.once('connect', () => {
            emitAck(s, 'start-container-logs', { containerName: quiet, tail: 5 }).then(resolve, reject);
          });
        }));
        sent++;
        s.connect();
      } else {
        // The old Node client: connect(); emit() with no ack; it must still
        // get its lines.
        const c = collect(s, quiet);
        s.connect();
        s.emit('start-container-logs', { containerName: quiet });
        sent++;
        oldClients.push(c);
      }
    }
    const acks = await Promise.all(firsts);
    for (const a of acks) assert.equal(a.ok, true, JSON.stringify(a));
    await Promise.all(oldClients.map((c) => c.until((st) => st.lines.length >= 5, ACK_MS, 'old client lines')));
    for (const c of oldClients) assert.deepEqual(texts(c.lines), ['hello 1', 'hello 2', 'hello 3', 'hello 4', 'hello 5']);
    await Promise.all(sockets.map(connected));

    // 2. Rounds on every socket (list, start, stop), one at a time per
    //    socket, all sockets at once; meanwhile sockets come and go, each
    //    with an event at connect. The busy container streams throughout.
    const ROUNDS = 14;
    let answered = 0;
    const rounds = sockets.map(async (s, i) => {
      for (let r = 0; r < ROUNDS; r++) {
        const name = r === i % ROUNDS ? fast : quiet;
        const list = await emitAck(s, 'list-containers', {});
        const start = await emitAck(s, 'start-container-logs', { containerName: name, tail: 0 });
        const stop = await emitAck(s, 'stop-container-logs', { containerName: name });
        sent += 3;
        for (const a of [list, start, stop]) assert.equal(a.ok, true, JSON.stringify(a));
        assert.equal(stop.wasWatching, true, JSON.stringify(stop));
        answered += 3;
      }
    });
    let churned = 0;
    const churn = (async () => {
      for (let batch = 0; batch < 50; batch++) {
        await Promise.all(Array.from({ length: 8 }, async (_, j) => {
          const s = fresh(w, cookieOf(batch * 8 + j));
          // Half queue their event before connect, half send it from the
          // connect callback.
          const a = j % 2
            ? emitAck(s, 'list-containers', {})
            : new Promise((res, rej) => s.once('connect', () => emitAck(s, 'list-containers', {}).then(res, rej)));
          sent++;
          s.connect();
          assert.equal((await a).ok, true);
          s.disconnect();
          churned++;
        }));
      }
    })();
    await Promise.all([...rounds, churn]);
    assert.equal(answered, N * ROUNDS * 3);
    assert.equal(churned, 400);

    // labtail counted every event it was sent: none reached no handler.
    const after = await metricSum(w, 'labtail_socket_events_total');
    assert.equal(after - before, sent, 'events counted by labtail');
    assert.ok(sent >= 10_000, `${sent} events`);

    // The watchers got every line once and in order, with no gap.
    for (const [i, c] of watchers.entries()) {
      assert.equal(c.broken, null, `watcher ${i}`);
      assert.equal(c.gaps, 0, `watcher ${i} had a gap`);
      console.log(`# watcher ${i}: ${c.count} lines in order`);
    }
    console.log(`# ${sent} events, all answered`);
  });

  test('a whole class reconnects at once after labtail is killed, and every resume is answered', async () => {
    const w = world();
    await w.start(ROOMY);
    const u = w.addUser('cls', 'student');
    // 4 000 numbered lines over about 8 s, then quiet.
    const box = w.run('cls', `${World.gate} i=1; while [ $i -le 4000 ]; do echo $i; `
      + 'if [ $((i % 50)) -eq 0 ]; then sleep 0.1; fi; i=$((i+1)); done; sleep 600');
    const cookie = await w.login(u.name, u.password);
    const CLASS = 60;
    const students = [];
    for (let i = 0; i < CLASS; i++) {
      const s = io(w.url, {
        forceNew: true,
        transports: ['websocket'],
        extraHeaders: { cookie },
        reconnectionDelay: 100,
        reconnectionDelayMax: 500,
        randomizationFactor: 0,
      });
      w.sockets.push(s);
      const c = collect(s, box);
      const st = { s, c, acks: 0, errors: [] };
      // As the web app does: on every (re)connect, start the watch again
      // from the last cursor held.
      s.on('connect', () => {
        const last = c.lines.at(-1);
        const payload = last ? { containerName: box, after: last.cursor } : { containerName: box, tail: 0 };
        emitAck(s, 'start-container-logs', payload).then((a) => {
          if (a.ok) st.acks++; else st.errors.push(a);
        }, (e) => st.errors.push(e.message));
      });
      students.push(st);
    }
    await poll(() => (students.every((st) => st.acks === 1) ? true : undefined), ACK_MS, 'first acks');
    w.open(box);
    await Promise.all(students.map(({ c }) => c.until((st) => st.lines.length >= 1000, 30_000)));
    w.proc.kill('SIGKILL');
    await new Promise((r) => w.proc.once('exit', r));
    await w.start(...w.lastArgs);
    await poll(() => (students.every((st) => st.acks === 2 || st.errors.length) ? true : undefined),
      ACK_MS, 'every resume to be answered');
    for (const st of students) assert.deepEqual(st.errors, []);
    await Promise.all(students.map(({ c }) => c.until((st) => texts(st.lines).includes('4000'), 60_000)));
    for (const [i, { c }] of students.entries()) {
      assert.deepEqual(texts(c.lines).map(Number), Array.from({ length: 4000 }, (_, k) => k + 1), `student ${i}`);
    }
  });
});

// The Engine.IO heartbeat knobs (--ping-interval, --ping-timeout) with the
// real socket.io-client against a real labtail and Docker engine: a client
// that answers pings stays connected and keeps its stream over many ping
// rounds; a client that never answers is closed, and only that one.
//
// engineioxide sends its first ping right after the open packet, before
// CONNECT is answered (the Node server waits one interval); the raw client
// below answers nothing, so it also shows that the server, not a client
// timer, closes a silent socket.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { World, ask, collect, deadline, poll } from '../lib/harness.mjs';

const w = new World();
let alice;

before(async () => {
  await w.start(['--ping-interval', '200ms', '--ping-timeout', '1500ms']);
  alice = w.addUser('alice', 'student');
});

after(() => w.cleanup());

test('a client that answers pings keeps its socket and its lines over many ping rounds', async () => {
  const cookie = await w.login(alice.name, alice.password);
  const s = await w.connect(cookie, { transports: ['websocket'] });
  let pings = 0;
  s.io.engine.on('ping', () => { pings += 1; });
  const name = w.run(alice.name, 'i=0; while true; do i=$((i+1)); echo "beat $i"; sleep 0.1; done');
  const state = collect(s, name);
  const ack = await ask(s, 'start-container-logs', { containerName: name, tail: 0 });
  assert.equal(ack.ok, true, JSON.stringify(ack));
  // Ten pings at 200 ms: two seconds of heartbeats, each answered.
  await poll(() => (pings >= 10 ? true : undefined), 30_000, 'ten pings');
  assert.ok(s.connected, 'still connected after ten pings');
  const first = state.lines.length;
  await state.until((st) => st.lines.length > first + 3, 30_000, 'lines after the pings');
  // Every beat since the first one seen, once and in order: no ping round
  // cost a line.
  const beats = state.lines.map((l) => Number(l.text.split(' ')[1]));
  beats.forEach((b, i) => assert.equal(b, beats[0] + i, `beat ${i} of ${beats.join(',')}`));
  s.disconnect();
});

test('a client that never answers a ping is closed by the server; the others stay', async () => {
  const cookie = await w.login(alice.name, alice.password);
  const good = await w.connect(cookie, { transports: ['websocket'] });
  const ws = new WebSocket(`${w.url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`, {
    headers: { cookie },
  });
  const packets = [];
  ws.on('message', (d) => {
    const t = d.toString();
    packets.push(t);
    if (t.startsWith('0')) ws.send('40'); // connect, then never pong
  });
  const closed = new Promise((res) => ws.on('close', res));
  await poll(() => (packets.some((p) => p.startsWith('40')) ? true : undefined), 10_000, 'connected');
  const started = Date.now();
  await deadline(closed, 10_000, 'the silent socket to be closed');
  assert.ok(packets.includes('2'), 'the server pinged');
  // Closed by the timeout, not at once: at least most of --ping-timeout
  // after CONNECT (engineioxide's first ping goes out before it).
  assert.ok(Date.now() - started >= 500, `closed after ${Date.now() - started} ms`);
  assert.ok(good.connected, 'the answering socket is untouched');
  const ack = await ask(good, 'list-containers', {});
  assert.equal(ack.ok, true, JSON.stringify(ack));
  good.disconnect();
});

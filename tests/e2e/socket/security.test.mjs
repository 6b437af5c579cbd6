// Security and hostile input: the authorisation matrix, CSRF, login abuse,
// sessions, TLS, limits, hostile payloads, the audit log, and which Docker
// calls a client can cause. See docs/security.md for the threat model.

import { test, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import { World, ask, collect, texts, deadline, poll, rawSocket, dockerRecorder } from '../lib/harness.mjs';

const worlds = [];
const world = () => { const w = new World(); worlds.push(w); return w; };
afterEach(async () => { for (const w of worlds.splice(0)) await w.cleanup(); });

/** Every event a socket receives, as text, to search for leaked names. */
function wiretap(socket) {
  const seen = [];
  socket.onAny((event, ...args) => seen.push(JSON.stringify([event, ...args])));
  return seen;
}

describe('authorisation matrix', () => {
  test('every event and endpoint, for every role and every kind of container', async () => {
    const w = world();
    await w.start();
    const alice = w.addUser('alice', 'student');
    const bob = w.addUser('bob', 'student');
    const teacher = w.addUser('teacher', 'instructor');
    const gone = w.addUser('gone', 'student');
    const quitter = w.addUser('quitter', 'student');
    const own = w.run('alice', 'echo alice-line; sleep 300');
    const other = w.run('bob', 'echo bob-line; sleep 300');
    const unlabelled = w.run(null, 'echo nobody-line; sleep 300');
    const missing = `labtail-e2e-${w.id}-missing`;

    // Cookies for the roles that have no valid session any more.
    const goneCookie = await w.login(gone.name, gone.password);
    assert.equal(w.cli(['user', 'remove', 'gone']).code, 0);
    const quitCookie = await w.login(quitter.name, quitter.password);
    assert.equal((await fetch(`${w.url}/api/logout`, { method: 'POST', headers: { cookie: quitCookie } })).status, 204);

    const noSession = { anonymous: null, 'removed user': goneCookie, 'logged-out session': quitCookie };
    for (const [role, cookie] of Object.entries(noSession)) {
      await assert.rejects(w.connect(cookie), /unauthenticated/, `${role}: socket refused`);
      for (const path of ['/api/me', '/api/containers', `/api/containers/${own}/logs`, '/api/audit']) {
        const res = await fetch(`${w.url}${path}`, { headers: cookie ? { cookie } : {} });
        assert.equal(res.status, 401, `${role} ${path}`);
        assert.equal((await res.json()).error.code, 'unauthenticated');
      }
    }

    const FORBIDDEN = { ok: false, error: { code: 'forbidden_or_missing', message: 'no such container, or not one you may see' } };
    // role -> container -> may watch?
    const matrix = {
      alice: { [own]: true, [other]: false, [unlabelled]: false, [missing]: false },
      bob: { [own]: false, [other]: true, [unlabelled]: false, [missing]: false },
      teacher: { [own]: true, [other]: true, [unlabelled]: false, [missing]: false },
    };
    const users = { alice, bob, teacher };
    const lineOf = { [own]: 'alice-line', [other]: 'bob-line' };
    for (const [role, row] of Object.entries(matrix)) {
      const u = users[role];
      const cookie = await w.login(u.name, u.password);
      const s = await w.connect(cookie);
      const tap = wiretap(s);
      const list = await ask(s, 'list-containers', {});
      const visible = Object.entries(row).filter(([, ok]) => ok).map(([c]) => c).sort();
      assert.deepEqual(list.containers.map((c) => c.name).sort(), visible, `${role} list`);
      const http = await (await fetch(`${w.url}/api/containers`, { headers: { cookie } })).json();
      assert.deepEqual(http.map((c) => c.name).sort(), visible, `${role} GET /api/containers`);
      for (const [container, ok] of Object.entries(row)) {
        const c = collect(s, container);
        const ack = await ask(s, 'start-container-logs', { containerName: container });
        if (ok) {
          assert.equal(ack.ok, true, `${role} start ${container}`);
          await c.until((st) => texts(st.lines).includes(lineOf[container]));
        } else {
          assert.deepEqual(ack, FORBIDDEN, `${role} start ${container}`);
          // A wait on it looks exactly like a wait on a missing container.
          const waited = await ask(s, 'start-container-logs', { containerName: container, wait: 1 });
          assert.deepEqual({ ...waited, containerName: '-' }, { ok: true, containerName: '-', state: 'waiting', wait: 1 });
        }
        const stop = await ask(s, 'stop-container-logs', { containerName: container });
        assert.equal(stop.ok, true);
        const dl = await fetch(`${w.url}/api/containers/${container}/logs`, { headers: { cookie } });
        if (ok) {
          assert.equal(dl.status, 200, `${role} download ${container}`);
          assert.equal(await dl.text(), `${lineOf[container]}\n`);
        } else {
          assert.equal(dl.status, 404, `${role} download ${container}`);
          assert.deepEqual(await dl.json(), { error: { code: 'forbidden_or_missing', message: 'no such container, or not one you may see' } });
        }
        c.stop();
      }
      const dash = await ask(s, 'watch-dashboard', {});
      if (role === 'teacher') assert.equal(dash.ok, true);
      else assert.equal(dash.error.code, 'forbidden', `${role} dashboard`);
      await ask(s, 'stop-dashboard', {});
      const auditRes = await fetch(`${w.url}/api/audit`, { headers: { cookie } });
      assert.equal(auditRes.status, role === 'teacher' ? 200 : 403, `${role} audit`);
      // Let the waits run out, then look at everything this socket received.
      await new Promise((r) => setTimeout(r, 1500));
      const everything = tap.join('\n');
      for (const [container, okForRole] of Object.entries(row)) {
        if (!okForRole && container !== missing) {
          // The only mentions allowed are echoes of names the client itself sent.
          const leaks = tap.filter((t) => t.includes(container) && !t.includes('"not-found"') && !t.includes('"waiting"'));
          assert.deepEqual(leaks, [], `${role} saw ${container}`);
        }
      }
      if (role !== 'teacher') {
        const foreign = role === 'alice' ? 'bob-line' : 'alice-line';
        assert.ok(!everything.includes(foreign), `${role} saw another student's log line`);
        assert.ok(!everything.includes(role === 'alice' ? '"bob"' : '"alice"'), `${role} saw another student's name`);
      }
      s.disconnect();
    }
  });

  test("a student hears nothing of another student's container lifecycle", async () => {
    const w = world();
    await w.start();
    const alice = w.addUser('alice', 'student');
    const bob = w.addUser('bob', 'student');
    const bobBox = w.run('bob', 'echo hi; sleep 300', ['--stop-timeout', '1']);
    const sa = await w.connect(await w.login(alice.name, alice.password));
    const tapA = wiretap(sa);
    const sb = await w.connect(await w.login(bob.name, bob.password));
    const cb = collect(sb, bobBox);
    await ask(sb, 'start-container-logs', { containerName: bobBox });
    w.docker('restart', '-t', '1', bobBox);
    await cb.until((st) => st.events.some((e) => e.state === 'running'), 30_000, 'restart seen by bob');
    w.docker('rm', '-f', bobBox);
    await cb.until((st) => st.events.some((e) => e.reason === 'removed'), 30_000, 'removal seen by bob');
    await ask(sa, 'list-containers', {});
    assert.deepEqual(tapA, [], 'alice received no event at all');
  });
});

describe('cross-site requests', () => {
  test('logout from a foreign Origin is refused and the session survives', async () => {
    const w = world();
    await w.start();
    const u = w.addUser('amy', 'student');
    const cookie = await w.login(u.name, u.password);
    const s = await w.connect(cookie);
    const res = await fetch(`${w.url}/api/logout`, {
      method: 'POST', headers: { cookie, origin: 'http://evil.example' },
    });
    assert.equal(res.status, 403);
    assert.equal((await fetch(`${w.url}/api/me`, { headers: { cookie } })).status, 200);
    assert.ok(s.connected);
    // An allowed extra origin works.
    const w2 = world();
    await w2.start(['--allowed-origin', 'https://dash.example.org']);
    const u2 = w2.addUser('ann', 'student');
    const c2 = await w2.login(u2.name, u2.password);
    const ok = await w2.connect(c2, { headers: { origin: 'https://dash.example.org' } });
    assert.ok(ok.connected);
  });
});

describe('login abuse', () => {
  test('failed logins for a user back off, the same for unknown users, and say when to retry', async () => {
    const w = world();
    await w.start(['--login-free-failures', '3', '--login-backoff', '2s']);
    const u = w.addUser('vic', 'student');
    const attempt = async (username, password) => {
      const res = await fetch(`${w.url}/api/login`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password }),
      });
      return { status: res.status, retry: res.headers.get('retry-after'), body: await res.json() };
    };
    for (const name of ['vic', 'nobody-here']) {
      for (let i = 0; i < 4; i++) assert.equal((await attempt(name, 'wrong')).status, 401, `${name} ${i}`);
      const blocked = await attempt(name, name === 'vic' ? u.password : 'x');
      assert.equal(blocked.status, 429, `${name} is throttled, even with the right password`);
      assert.equal(blocked.body.error.code, 'rate_limited');
      assert.ok(Number(blocked.retry) >= 1 && Number(blocked.retry) <= 3, `Retry-After ${blocked.retry}`);
    }
    // After the backoff, the right password works and clears the count.
    await deadline((async () => {
      while ((await attempt('vic', u.password)).status !== 200) await new Promise((r) => setTimeout(r, 250));
    })(), 15_000, 'the backoff to pass');
    assert.equal((await attempt('vic', 'wrong')).status, 401);
    assert.ok(await w.metric('labtail_limit_hits_total', 'limit="login_attempts"') >= 2);
  });

  test('one address spraying many user names is throttled', async () => {
    const w = world();
    await w.start(['--login-ip-free-failures', '5']);
    const u = w.addUser('real', 'student');
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${w.url}/api/login`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: `spray${i}`, password: 'x' }),
      });
      assert.equal(res.status, 401);
    }
    const res = await fetch(`${w.url}/api/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: u.name, password: u.password }),
    });
    assert.equal(res.status, 429);
  });
});

describe('sessions', () => {
  test('a session ends at its maximum age, with its sockets', async () => {
    const w = world();
    await w.start(['--session-max-age', '3s', '--auth-recheck-interval', '200ms']);
    const u = w.addUser('max', 'student');
    const cookie = await w.login(u.name, u.password);
    const s = await w.connect(cookie);
    const gone = new Promise((r) => s.once('disconnect', r));
    assert.equal(await deadline(gone, 15_000, 'socket to end at max age'), 'io server disconnect');
    assert.equal((await fetch(`${w.url}/api/me`, { headers: { cookie } })).status, 401);
  });

  test('an idle session expires', async () => {
    const w = world();
    await w.start(['--session-idle-timeout', '2s']);
    const u = w.addUser('idle', 'student');
    const cookie = await w.login(u.name, u.password);
    assert.equal((await fetch(`${w.url}/api/me`, { headers: { cookie } })).status, 200);
    // Idleness is the behaviour under test: nothing touches the session for
    // longer than its idle timeout (2 s), then it must be gone.
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await fetch(`${w.url}/api/me`, { headers: { cookie } })).status, 401);
  });

  test('revoking a user ends every session and socket; the password still works', async () => {
    const w = world();
    await w.start();
    const u = w.addUser('rev', 'student');
    const c1 = await w.login(u.name, u.password);
    const c2 = await w.login(u.name, u.password);
    const s1 = await w.connect(c1);
    const s2 = await w.connect(c2);
    const gone = Promise.all([s1, s2].map((s) => new Promise((r) => s.once('disconnect', r))));
    assert.equal(w.cli(['user', 'revoke', 'rev']).code, 0);
    await deadline(gone, 10_000, 'sockets to end');
    for (const c of [c1, c2]) assert.equal((await fetch(`${w.url}/api/me`, { headers: { cookie: c } })).status, 401);
    await w.login(u.name, u.password);
  });
});

describe('TLS', () => {
  test('HTTPS and WSS with a Secure cookie', async (t) => {
    if (spawnSync('openssl', ['version']).status !== 0) {
      t.skip('openssl is not installed');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'labtail-tls-'));
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const ca = readFileSync(`${dir}/cert.pem`);
    const w = world();
    const url = await w.start(['--tls-cert', `${dir}/cert.pem`, '--tls-key', `${dir}/key.pem`]);
    assert.match(url, /^https:\/\//);
    const u = w.addUser('tls', 'student');
    const box = w.run('tls', 'echo secret-over-tls; sleep 300');
    const { status, cookie } = await new Promise((res, rej) => {
      const req = https.request(`${url}/api/login`, { method: 'POST', ca, headers: { 'content-type': 'application/json' } }, (resp) => {
        resp.resume();
        res({ status: resp.statusCode, cookie: resp.headers['set-cookie'][0] });
      });
      req.on('error', rej);
      req.end(JSON.stringify({ username: u.name, password: u.password }));
    });
    assert.equal(status, 200);
    assert.match(cookie, /; Secure/);
    assert.match(cookie, /HttpOnly/);
    const s = await w.connect(cookie.split(';')[0], { transports: ['websocket'], io: { ca } });
    const c = collect(s, box);
    assert.equal((await ask(s, 'start-container-logs', { containerName: box })).ok, true);
    await c.until((st) => texts(st.lines).includes('secret-over-tls'));
  });
});

describe('limits', () => {
  test('events per second, sockets per user and streams per user each have a limit and a code', async () => {
    const w = world();
    await w.start(['--socket-events-per-second', '5', '--socket-events-burst', '5',
      '--max-sockets-per-user', '2', '--max-streams-per-user', '2']);
    const u = w.addUser('lim', 'student');
    const boxes = [0, 1, 2].map(() => w.run('lim', 'sleep 300'));
    const cookie = await w.login(u.name, u.password);
    const s1 = await w.connect(cookie);
    const answers = await Promise.all(Array.from({ length: 20 }, () => ask(s1, 'list-containers', {})));
    const limited = answers.filter((a) => a.error?.code === 'rate_limited').length;
    assert.ok(limited >= 10, `${limited} of 20 were rate limited`);
    assert.ok(answers.filter((a) => a.ok).length >= 5);
    await deadline((async () => {
      while (!(await ask(s1, 'list-containers', {})).ok) await new Promise((r) => setTimeout(r, 200));
    })(), 5000, 'the bucket to refill');

    // Fresh sockets (full event buckets) for the socket and stream limits.
    s1.disconnect();
    await w.waitMetric('labtail_sockets_connected', (v) => v === 0);
    const s3 = await w.connect(cookie);
    const s2 = await w.connect(cookie);
    await assert.rejects(w.connect(cookie), /too_many_sockets/);
    assert.equal((await ask(s3, 'start-container-logs', { containerName: boxes[0] })).ok, true);
    assert.equal((await ask(s2, 'start-container-logs', { containerName: boxes[1] })).ok, true);
    const third = await ask(s2, 'start-container-logs', { containerName: boxes[2] });
    assert.equal(third.error.code, 'too_many_streams');
    await ask(s3, 'stop-container-logs', { containerName: boxes[0] });
    assert.equal((await ask(s2, 'start-container-logs', { containerName: boxes[2] })).ok, true);
    for (const limit of ['socket_events', 'sockets_per_user', 'streams_per_user']) {
      assert.ok(await w.metric('labtail_limit_hits_total', `limit="${limit}"`) >= 1, limit);
    }
  });

  test('oversized packets are refused: 413 for polling, a close without status for WebSocket', async () => {
    const w = world();
    await w.start(['--max-payload', '4096']);
    const u = w.addUser('big', 'student');
    const cookie = await w.login(u.name, u.password);
    // What socket.io-client reports for each transport.
    for (const [transports, want] of [[['polling'], 'transport error'], [['websocket'], 'transport close']]) {
      const s = await w.connect(cookie, { transports });
      const gone = new Promise((r) => s.once('disconnect', r));
      s.emit('start-container-logs', { containerName: 'x'.repeat(10_000) });
      assert.equal(await deadline(gone, 10_000, `${transports} disconnect`), want);
    }
    // The WebSocket close itself, as documented (docs/protocol.md): no
    // status code (1005). A message within the bound is answered first.
    const raw = await rawSocket(w.url, cookie);
    raw.send('421["list-containers",{}]');
    assert.equal((await raw.ack(1)).ok, true);
    raw.send(`42["list-containers",{"pad":"${'x'.repeat(5000)}"}]`);
    await poll(() => (raw.closed ? true : undefined), 10_000, 'the WebSocket to close');
    assert.equal(raw.closeCode, 1005);
    // The HTTP answer a polling client gets.
    const sid = (await (await fetch(`${w.url}/socket.io/?EIO=4&transport=polling`, { headers: { cookie } })).text()).match(/"sid":"([^"]+)"/)[1];
    const res = await fetch(`${w.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
      method: 'POST', headers: { cookie, 'content-type': 'text/plain' }, body: 'x'.repeat(10_000),
    });
    assert.equal(res.status, 413);
    assert.equal((await res.json()).error.code, 'payload_too_large');
    assert.ok(await w.metric('labtail_limit_hits_total', 'limit="payload"') >= 1);
  });

  test('long lines are cut at --max-line-bytes and say how much was cut', async () => {
    const w = world();
    await w.start(['--max-line-bytes', '100']);
    const u = w.addUser('wide', 'student');
    const box = w.run('wide', "awk 'BEGIN { s = \"\"; for (i = 0; i < 1000; i++) s = s \"x\"; print s; print \"short\" }'; sleep 300");
    const s = await w.connect(await w.login(u.name, u.password));
    const c = collect(s, box);
    await ask(s, 'start-container-logs', { containerName: box });
    await c.until((st) => st.lines.length >= 2);
    assert.equal(c.lines[0].text, 'x'.repeat(100));
    assert.equal(c.lines[0].truncated, 900);
    assert.equal(c.lines[1].text, 'short');
    assert.equal(c.lines[1].truncated, undefined);
  });
});

describe('hostile payloads', () => {
  test('malformed packets from a raw client never crash labtail or leak streams', async () => {
    const w = world();
    // --history off: the upstream count below must fall to 0 once the
    // sockets are gone (a recorder would keep one open per lab container).
    await w.start(['--socket-events-per-second', '1000', '--socket-events-burst', '1000',
      '--history', 'off']);
    const u = w.addUser('evil', 'student');
    const box = w.run('evil', 'while true; do echo x; sleep 0.1; done');
    const cookie = await w.login(u.name, u.password);
    // Well-formed events with hostile payloads: each is answered.
    const raw = await rawSocket(w.url, cookie);
    const hostile = [
      `["start-container-logs",${'['.repeat(30_000)}${']'.repeat(30_000)}]`,
      '["start-container-logs",{"containerName":"\\u0000"}]',
      '["start-container-logs",{"containerName":"\\u202egnp.exe"}]',
      '["start-container-logs",{"containerName":"😀"}]',
      '["start-container-logs",{"containerName":"a\\nb"}]',
      '["start-container-logs",{"containerName":"x","tail":18446744073709551616}]',
      '["start-container-logs",{"containerName":"x","tail":-0.0}]',
      '["start-container-logs",{"containerName":"x","after":"99999999999999999999-1"}]',
      '["start-container-logs",{"containerName":"x","since":"9999-99-99T99:99:99Z"}]',
      '["stop-container-logs"]',
      '["list-containers",1,2,3]',
      '["start-container-logs",{"containerName":{"$gt":""}}]',
    ];
    hostile.forEach((p, id) => raw.send(`42${id}${p}`));
    for (let id = 0; id < hostile.length; id++) {
      const a = await raw.ack(id);
      assert.equal(a.ok, false, `ack ${id}`);
      assert.equal(a.error.code, 'invalid_payload', `ack ${id}: ${JSON.stringify(a)}`);
    }
    assert.ok(!raw.closed);
    raw.close();
    // Packets that break the Socket.IO protocol itself close that connection
    // (and only it); labtail keeps serving everyone else.
    for (const p of ['421["start-container-logs",{"containerName":', '4212[42]', '4214', '42abc',
      '451-15["start-container-logs",{"_placeholder":true,"num":0}]', '9', '']) {
      const r = await rawSocket(w.url, cookie);
      r.send(p);
      r.send('4299["list-containers",{}]');
      await r.ack(99, 3000).catch(() => {});
      r.close();
      assert.equal((await fetch(`${w.url}/healthz`)).status, 200, `alive after ${JSON.stringify(p)}`);
    }
    // Still alive and still serving; then a flood of start/stop.
    assert.equal((await fetch(`${w.url}/healthz`)).status, 200);
    const s = await w.connect(cookie);
    // 600 start/stop events in waves of 16 in flight: every one is answered,
    // and no answer is dropped even while lines stream to the same socket.
    const results = [];
    for (let wave = 0; wave < 38; wave++) {
      const inFlight = [];
      for (let i = 0; i < 8; i++) {
        inFlight.push(ask(s, 'start-container-logs', { containerName: box, tail: 5 }));
        inFlight.push(ask(s, 'stop-container-logs', { containerName: box }));
      }
      results.push(...await Promise.all(inFlight));
    }
    assert.equal(results.length, 608);
    assert.ok(results.every((r) => r.ok || r.error.code === 'rate_limited'), 'only ok or rate_limited');
    assert.equal(await w.metric('labtail_acks_dropped_total', 'reason="flood"') ?? 0, 0);
    s.disconnect();
    raw.close();
    await w.waitMetric('labtail_upstream_streams_open', (v) => v === 0);
    await w.waitMetric('labtail_watches_active', (v) => v === 0);
    await w.waitMetric('labtail_sockets_connected', (v) => v === 0);
    assert.doesNotMatch(w.stderr(), /panicked/);
  });
});

describe('audit log', () => {
  test('logins, failures and watches are recorded; instructors and the CLI can read them', async () => {
    const w = world();
    await w.start();
    const u = w.addUser('aud', 'student');
    const t = w.addUser('prof', 'instructor');
    const box = w.run('aud', 'echo a; sleep 300');
    await fetch(`${w.url}/api/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'aud', password: 'wrong' }),
    });
    const s = await w.connect(await w.login(u.name, u.password));
    await ask(s, 'start-container-logs', { containerName: box });
    await ask(s, 'stop-container-logs', { containerName: box });
    const teacherCookie = await w.login(t.name, t.password);
    const rows = await deadline((async () => {
      for (;;) {
        const r = await (await fetch(`${w.url}/api/audit?user=aud`, { headers: { cookie: teacherCookie } })).json();
        if (r.some((x) => x.kind === 'watch' && x.ended_at)) return r;
        await new Promise((res) => setTimeout(res, 100));
      }
    })(), 10_000, 'the watch to be closed in the audit log');
    const kinds = rows.map((r) => r.kind).reverse();
    assert.deepEqual(kinds, ['login_failed', 'login', 'watch']);
    const watch = rows.find((r) => r.kind === 'watch');
    assert.equal(watch.container, box);
    assert.equal(watch.ip, '127.0.0.1');
    assert.ok(watch.ended_at >= watch.at);
    const cli = w.cli(['audit', '--user', 'aud', '--json']);
    assert.equal(cli.code, 0, cli.stderr);
    const lines = cli.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.kind).reverse(), ['login_failed', 'login', 'watch']);
  });
});

describe('Docker socket exposure', () => {
  test('whatever a client sends, labtail only asks Docker to read', async () => {
    const proxy = await dockerRecorder();
    const w = world();
    try {
      await w.start(['--docker-host', proxy.host]);
      const u = w.addUser('dock', 'student');
      const t = w.addUser('doc2', 'instructor');
      const box = w.run('dock', 'echo hello; sleep 300', ['--stop-timeout', '1']);
      for (const user of [u, t]) {
        const cookie = await w.login(user.name, user.password);
        const s = await w.connect(cookie);
        const c = collect(s, box);
        await ask(s, 'list-containers', {});
        await ask(s, 'start-container-logs', { containerName: box, tail: 10 });
        await c.until((st) => st.lines.length >= 1);
        for (const name of ['../../images/json', '..%2F..%2Finfo', 'x?all=1', 'containers/create', box.toUpperCase()]) {
          await ask(s, 'start-container-logs', { containerName: name });
        }
        await ask(s, 'start-container-logs', { containerName: box, since: '2020-01-01T00:00:00Z' });
        await fetch(`${w.url}/api/containers/${box}/logs?tail=5`, { headers: { cookie } });
        await fetch(`${w.url}/api/containers/..%2F..%2Finfo/logs`, { headers: { cookie } });
        s.disconnect();
      }
      w.docker('restart', '-t', '1', box);
      await fetch(`${w.url}/readyz`);
      const allowed = [
        /^\/(v[\d.]+\/)?version$/,
        /^\/(v[\d.]+\/)?_ping$/,
        // The engine's ID: which node records its history.
        /^\/(v[\d.]+\/)?info$/,
        /^\/(v[\d.]+\/)?containers\/json\?/,
        /^\/(v[\d.]+\/)?containers\/[0-9a-f]{64}\/json$/,
        /^\/(v[\d.]+\/)?containers\/[0-9a-f]{64}\/logs\?/,
        // One sample of a running lab container's use (attention's runaway).
        /^\/(v[\d.]+\/)?containers\/[0-9a-f]{64}\/stats\?/,
        /^\/(v[\d.]+\/)?events\?/,
      ];
      assert.ok(proxy.requests.length > 5, 'requests were recorded');
      for (const r of proxy.requests) {
        assert.ok(['GET', 'HEAD'].includes(r.method), `method ${r.method} ${r.path}`);
        assert.ok(allowed.some((re) => re.test(r.path)), `path ${r.path}`);
      }
    } finally {
      await w.cleanup();
      await proxy.close();
    }
  });
});

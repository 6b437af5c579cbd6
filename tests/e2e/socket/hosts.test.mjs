// Several Docker engines behind one labtail: the host's engine and a second,
// private dockerd (its own socket and data root). Containers are shown as
// host/name; a plain name works where one host has it; an engine going down
// marks its containers unavailable and leaves the other's streams alone.

import { test, before, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, copyFileSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import tls from 'node:tls';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { World, PrivateEngine, IMAGE, BIN, ask, collect, texts, range } from '../lib/harness.mjs';

const MAIN = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
const second = new PrivateEngine();
const w = new World();
let alice; let cookie;

/** `docker run` on the second engine (removed with it). */
function runOnSecond(owner, name, script) {
  const r = spawnSync('docker', ['-H', second.host, 'run', '-d', '--name', name, '--network', 'none',
    '--label', `${w.label}=${owner}`, IMAGE, 'sh', '-c', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`docker run on the second engine failed: ${r.stderr}`);
}

async function readyz() {
  const res = await fetch(`${w.url}/readyz`);
  return { status: res.status, body: await res.json() };
}

before(async () => {
  await second.start();
  second.loadImage(IMAGE);
  await w.start(['--docker-host', `main=${MAIN}`, '--docker-host', `second=${second.host}`,
    '--reconnect-max-delay', '1s']);
  alice = w.addUser('alice', 'student');
  cookie = await w.login(alice.name, alice.password);
});

after(async () => {
  await w.cleanup();
  await second.destroy();
});
afterEach(() => w.disconnectAll());

describe('several Docker hosts', () => {
  const lab = `lab-${w.id}`;
  const solo = `solo-${w.id}`;

  test('containers of both hosts are listed as host/name', async () => {
    w.run('alice', 'seq 1 3; sleep 600', [], lab);
    runOnSecond('alice', lab, 'for i in $(seq 1 5); do echo second-$i; done; sleep 600');
    runOnSecond('alice', solo, 'echo solo-line; sleep 600');
    const s = await w.connect(cookie);
    const ack = await ask(s, 'list-containers', {});
    assert.equal(ack.ok, true, JSON.stringify(ack));
    const names = ack.containers.map((c) => c.name).sort();
    assert.deepEqual(names, [`main/${lab}`, `second/${lab}`, `second/${solo}`]);
    assert.ok(ack.containers.every((c) => c.state === 'running'), JSON.stringify(ack.containers));
    const http = await (await fetch(`${w.url}/api/containers`, { headers: { cookie } })).json();
    assert.deepEqual(http.map((c) => c.name).sort(), names);
  });

  test('a name two hosts have must be qualified; each host streams its own lines', async () => {
    const s = await w.connect(cookie);
    const amb = await ask(s, 'start-container-logs', { containerName: lab });
    assert.equal(amb.ok, false);
    assert.equal(amb.error.code, 'invalid_payload');
    assert.match(amb.error.message, /main\/lab-.*second\/lab-|use host\/name/);

    const c2 = collect(s, `second/${lab}`);
    const ack2 = await ask(s, 'start-container-logs', { containerName: `second/${lab}`, tail: 100 });
    assert.equal(ack2.ok, true, JSON.stringify(ack2));
    await c2.until((st) => st.lines.length >= 5);
    assert.deepEqual(texts(c2.lines), range(1, 5).map((i) => `second-${i}`));

    const c1 = collect(s, `main/${lab}`);
    assert.equal((await ask(s, 'start-container-logs', { containerName: `main/${lab}`, tail: 100 })).ok, true);
    await c1.until((st) => st.lines.length >= 3);
    assert.deepEqual(texts(c1.lines), range(1, 3));

    // A plain name one host has works, and comes back qualified.
    const c3 = collect(s, `second/${solo}`);
    const ack3 = await ask(s, 'start-container-logs', { containerName: solo, tail: 10 });
    assert.equal(ack3.ok, true, JSON.stringify(ack3));
    assert.equal(ack3.containerName, `second/${solo}`);
    await c3.until((st) => st.lines.length >= 1);
    assert.deepEqual(texts(c3.lines), ['solo-line']);

    // The download endpoint takes the same names.
    const dl = await fetch(`${w.url}/api/containers/${encodeURIComponent(`second/${solo}`)}/logs`, { headers: { cookie } });
    assert.equal(dl.status, 200);
    assert.equal(await dl.text(), 'solo-line\n');
  });

  test('an engine going down marks its containers unavailable; the other keeps streaming', async () => {
    const ticker = `ticker-${w.id}`;
    w.run('alice', `${World.gate}i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done`, [], ticker);
    const s = await w.connect(cookie);
    const c = collect(s, `main/${ticker}`);
    assert.equal((await ask(s, 'start-container-logs', { containerName: ticker })).ok, true);
    w.open(ticker);
    await c.until((st) => st.lines.length >= 5);
    assert.equal((await readyz()).body.docker, 'up');

    await second.stop();
    const down = await readyzUntil((b) => b.docker === 'degraded');
    assert.equal(down.status, 200, 'one engine up: the node still serves');
    assert.match(down.body.dockerHosts.second, /^down/);
    assert.equal(down.body.dockerHosts.main, 'up');

    const ack = await ask(s, 'list-containers', {});
    const byName = Object.fromEntries(ack.containers.map((x) => [x.name, x.state]));
    assert.equal(byName[`second/${solo}`], 'unavailable');
    assert.equal(byName[`main/${ticker}`], 'running');

    // The main engine's stream never stopped: more lines, still in order.
    const have = c.lines.length;
    await c.until((st) => st.lines.length >= have + 20);
    assert.deepEqual(texts(c.lines), range(1, c.lines.length));

    await second.start();
    const back = await readyzUntil((b) => b.docker === 'up');
    assert.equal(back.status, 200);
  });
});

async function readyzUntil(pred, ms = 30_000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await readyz();
    if (pred(last.body)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`readyz never matched: ${JSON.stringify(last)}`);
}

/**
 * A tcp:// engine with TLS client certificates. dockerd itself cannot listen
 * on a host port here (a second dockerd must live in its own network
 * namespace), so a Node TLS server (OpenSSL) terminates mutual TLS in front
 * of the real engine's socket, as dockerd's --tlsverify would: the Docker API
 * behind it is real.
 */
describe('a tcp:// Docker engine with TLS client certificates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'labtail-tls-'));
  const good = join(dir, 'client');
  const rogue = join(dir, 'rogue');
  let proxy; let port;
  const tw = new World();
  const openssl = (...args) => {
    const r = spawnSync('openssl', args, { encoding: 'utf8', cwd: dir });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  // A CA, a server certificate for 127.0.0.1, and a client certificate;
  // plus a client certificate from another CA that must be refused.
  const makeCa = (name) => openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-keyout', `${name}-key.pem`, '-out', `${name}.pem`);
  const issue = (ca, name, ext) => {
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`,
      '-keyout', `${name}-key.pem`, '-out', `${name}.csr`);
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}-key.pem`,
      '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`);
  };
  const certDir = (target, ca, name) => {
    mkdirSync(target);
    copyFileSync(join(dir, `${ca}.pem`), join(target, 'ca.pem'));
    copyFileSync(join(dir, `${name}.pem`), join(target, 'cert.pem'));
    copyFileSync(join(dir, `${name}-key.pem`), join(target, 'key.pem'));
  };

  before(async () => {
    makeCa('ca');
    makeCa('otherca');
    issue('ca', 'server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    issue('ca', 'client', 'extendedKeyUsage=clientAuth\n');
    issue('otherca', 'intruder', 'extendedKeyUsage=clientAuth\n');
    certDir(good, 'ca', 'client');
    certDir(rogue, 'ca', 'intruder'); // trusts our CA, but its own cert is not ours
    const sock = MAIN.replace('unix://', '');
    const read = (f) => readFileSync(join(dir, f));
    proxy = tls.createServer({
      cert: read('server.pem'), key: read('server-key.pem'), ca: read('ca.pem'),
      requestCert: true, rejectUnauthorized: true,
    }, (conn) => {
      const up = net.connect(sock);
      conn.pipe(up).pipe(conn);
      const end = () => { conn.destroy(); up.destroy(); };
      conn.on('error', end); up.on('error', end); conn.on('close', end); up.on('close', end);
    });
    proxy.on('tlsClientError', () => {}); // the rogue certificate, refused
    await new Promise((res) => proxy.listen(0, '127.0.0.1', res));
    port = proxy.address().port;
  });

  after(async () => {
    await tw.cleanup();
    await new Promise((res) => (proxy ? proxy.close(res) : res()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('containers are read through TLS with the client certificate; a foreign certificate is refused', async () => {
    await tw.start(['--docker-host', `local=${MAIN}`, '--docker-host', `secure=tcp://127.0.0.1:${port}`,
      '--docker-tls-dir', `secure=${good}`]);
    const u = tw.addUser('tina', 'student');
    const box = tw.run('tina', 'echo over-tls; sleep 600', [], `tls-${tw.id}`);
    const cookie2 = await tw.login(u.name, u.password);
    const s = await tw.connect(cookie2);
    // Both entries are the same container, seen through each engine address.
    const list = await ask(s, 'list-containers', {});
    assert.deepEqual(list.containers.map((c) => c.name).sort(), [`local/${box}`, `secure/${box}`]);
    const c = collect(s, `secure/${box}`);
    const ack = await ask(s, 'start-container-logs', { containerName: `secure/${box}`, tail: 10 });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    await c.until((st) => st.lines.length >= 1);
    assert.deepEqual(texts(c.lines), ['over-tls']);
    await tw.stop();

    // The same engine with a client certificate the server does not trust.
    tw.url = undefined;
    await tw.start(['--docker-host', `local=${MAIN}`, '--docker-host', `secure=tcp://127.0.0.1:${port}`,
      '--docker-tls-dir', `secure=${rogue}`, '--reconnect-max-delay', '1s']);
    const end = Date.now() + 20_000;
    let body;
    while (Date.now() < end) {
      body = await (await fetch(`${tw.url}/readyz`)).json();
      // The other engine may still be "starting" when this one is found down.
      if (body.dockerHosts?.secure?.startsWith('down') && body.dockerHosts?.local === 'up') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(body.dockerHosts.secure, /^down/, JSON.stringify(body));
    assert.equal(body.dockerHosts.local, 'up');
    assert.equal(body.docker, 'degraded');
  });

  test('TLS files that are missing are a clear start-up error', () => {
    const r = spawnSync(BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', tw.dataDir,
      '--docker-host', `tcp://127.0.0.1:${port}`, '--docker-tls-dir', join(dir, 'nope')], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /ca\.pem is missing/);
  });
});

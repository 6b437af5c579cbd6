// Test harness: starts a real labtail binary against the real Docker engine,
// creates users with the real CLI, runs labelled containers, and connects
// real socket.io-client sockets. Every wait has a deadline; every container
// and process started here is removed by `cleanup()`.

import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { connect, createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { io } from 'socket.io-client';

const ROOT = resolve(import.meta.dirname, '../../..');
export const BIN = process.env.LABTAIL_BIN
  ?? join(process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target'), 'debug', 'labtail');
export const IMAGE = process.env.LABTAIL_TEST_IMAGE ?? 'labtail-busybox:test';

/** Rejects after `ms` with a message saying what was awaited. */
export function deadline(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `check` every 10 ms until it returns a value other than undefined. */
export function poll(check, ms, what) {
  let timer;
  return deadline(new Promise((resolve) => {
    const tick = () => {
      const v = check();
      if (v !== undefined) resolve(v); else timer = setTimeout(tick, 10);
    };
    tick();
  }), ms, what).finally(() => clearTimeout(timer));
}

export function uid() {
  return randomBytes(4).toString('hex');
}

/** One test world: its own owner label, data dir, server, containers, sockets. */
export class World {
  /**
   * `opts.label` shares another world's owner label (two nodes, one lab);
   * `opts.databaseUrl` uses that database instead of the world's SQLite.
   */
  constructor(opts = {}) {
    this.id = uid();
    this.label = opts.label ?? `labtail.e2e-${this.id}`;
    this.dbArgs = opts.databaseUrl ? ['--database-url', opts.databaseUrl] : [];
    this.dataDir = mkdtempSync(join(tmpdir(), 'labtail-e2e-'));
    this.containers = [];
    this.sockets = [];
    this.procs = [];
  }

  /**
   * Starts labtail; resolves once it prints its listening line. A restart
   * (`start` after `stop`) reuses the port, so clients can reconnect.
   */
  async start(extraArgs = [], env = {}) {
    this.lastArgs = [extraArgs, env];
    const listen = this.url ? new URL(this.url).host : '127.0.0.1:0';
    const recheck = extraArgs.includes('--auth-recheck-interval') ? [] : ['--auth-recheck-interval', '500ms'];
    const args = ['serve', '--listen', listen, '--owner-label', this.label,
      '--data-dir', this.dataDir, ...this.dbArgs, ...recheck, ...extraArgs];
    const proc = spawn(BIN, args, {
      env: { ...process.env, LABTAIL_LOG: process.env.LABTAIL_E2E_LOG ?? 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.procs.push(proc);
    this.proc = proc;
    let stderr = '';
    let out = '';
    proc.stderr.on('data', (d) => { stderr = (stderr + d).slice(-64 * 1024); });
    // LABTAIL_E2E_LOGDIR=dir keeps every labtail's whole stderr there (with
    // LABTAIL_LOG=debug, say), to look into a failure afterwards.
    if (process.env.LABTAIL_E2E_LOGDIR) {
      mkdirSync(process.env.LABTAIL_E2E_LOGDIR, { recursive: true });
      proc.stderr.pipe(createWriteStream(join(process.env.LABTAIL_E2E_LOGDIR, `labtail-${this.id}-${this.procs.length}.log`)));
    }
    const url = await deadline(new Promise((res, rej) => {
      proc.stdout.on('data', (d) => {
        out += d;
        const m = out.match(/labtail listening on (https?:\/\/\S+)/);
        if (m) res(m[1]);
      });
      // 'close', not 'exit': by then stderr is read to its end.
      proc.on('close', (code) => rej(new Error(`labtail exited with ${code}: ${stderr}`)));
    }), 30_000, 'labtail to listen');
    this.url = url;
    this.stderr = () => stderr;
    this.stdout = () => out;
    return url;
  }

  /** Resident memory of the labtail process, in bytes. */
  rss() {
    const status = readFileSync(`/proc/${this.proc.pid}/status`, 'utf8');
    return Number(status.match(/VmRSS:\s+(\d+) kB/)[1]) * 1024;
  }

  /** Restarts labtail with the same arguments, port and data. */
  async restart() {
    await this.stop();
    const [args, env] = this.lastArgs;
    return this.start(args, env);
  }

  /** Stops labtail (SIGTERM) and waits for it to exit. */
  async stop() {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((res) => p.on('exit', res));
    p.kill('SIGTERM');
    await deadline(exited, 15_000, 'labtail to exit');
  }

  /** `labtail <args>` against this world's data dir. */
  cli(args, input) {
    const r = spawnSync(BIN, [...args, '--data-dir', this.dataDir, ...this.dbArgs], {
      input, encoding: 'utf8', timeout: 30_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  addUser(name, role, password = `pw-${name}-${this.id}`) {
    const r = this.cli(['user', 'add', name, '--role', role, '--password-stdin'], `${password}\n`);
    if (r.code !== 0) throw new Error(`user add failed: ${r.stderr}`);
    return { name, password };
  }

  /** Runs a container labelled for `owner` (or unlabelled when owner is null). */
  run(owner, script, extra = [], name = undefined) {
    name ??= `labtail-e2e-${this.id}-${this.containers.length}`;
    const labels = owner === null ? [] : ['--label', `${this.label}=${owner}`];
    const r = spawnSync('docker', [...this.dockerHost(), 'run', '-d', '--name', name, ...labels,
      ...extra, IMAGE, 'sh', '-c', script], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`docker run failed: ${r.stderr}`);
    this.containers.push(name);
    return name;
  }

  /** `-H` arguments when this world uses a private engine. */
  dockerHost() {
    return this.engine ? ['-H', this.engine.host] : [];
  }

  /** Every line of a container's log as Docker has it (the oracle). */
  dockerLogs(name) {
    const r = spawnSync('docker', [...this.dockerHost(), 'logs', name], { encoding: 'utf8', maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`docker logs failed: ${r.stderr}`);
    return { stdout: r.stdout.split('\n').slice(0, -1), stderr: r.stderr.split('\n').slice(0, -1) };
  }

  /**
   * A shell prefix that blocks until `open(name)` is called: lets a test
   * subscribe first and then make the container print, with no sleeps.
   */
  static gate = 'while [ ! -e /tmp/go ]; do sleep 0.05; done; ';

  open(name) {
    this.docker('exec', name, 'touch', '/tmp/go');
  }

  /** Disconnects every socket opened so far (between tests). */
  disconnectAll() {
    for (const s of this.sockets) s.disconnect();
    this.sockets = [];
  }

  docker(...args) {
    const r = spawnSync('docker', [...this.dockerHost(), ...args], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout.trim();
  }

  async login(user, password, url = this.url) {
    const res = await fetch(`${url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: user, password }),
    });
    if (res.status !== 200) throw new Error(`login ${user} failed: ${res.status}`);
    const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    return cookie;
  }

  /**
   * Connects a socket.io-client socket; resolves with it once connected,
   * rejects with the connect_error otherwise.
   */
  async connect(cookie, opts = {}) {
    const socket = io(opts.url ?? this.url, {
      transports: opts.transports ?? ['polling', 'websocket'],
      extraHeaders: { ...(cookie ? { cookie } : {}), ...(opts.headers ?? {}) },
      reconnection: opts.reconnection ?? false,
      forceNew: true,
      timeout: 10_000,
      ...(opts.io ?? {}),
    });
    this.sockets.push(socket);
    await deadline(new Promise((res, rej) => {
      socket.once('connect', res);
      socket.once('connect_error', rej);
    }), 15_000, 'socket connect');
    return socket;
  }

  async cleanup() {
    for (const s of this.sockets) s.disconnect();
    for (const p of this.procs) if (p.exitCode === null) p.kill('SIGKILL');
    if (this.containers.length && (!this.engine || this.engine.running())) {
      spawnSync('docker', [...this.dockerHost(), 'rm', '-f', ...this.containers], { encoding: 'utf8' });
    }
    if (this.engine) await this.engine.destroy();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Current value of a metric (first sample whose labels match). */
  async metric(name, labels = '') {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    for (const line of text.split('\n')) {
      if (line.startsWith('#')) continue;
      const [key, value] = line.split(' ');
      if (key === name || key === `${name}{${labels}}`) return Number(value);
    }
    return undefined;
  }

  /** Polls a metric until `ok(value)`, or fails at the deadline. */
  async waitMetric(name, ok, ms = 15_000, labels = '') {
    const end = Date.now() + ms;
    let v;
    while (Date.now() < end) {
      v = await this.metric(name, labels);
      if (ok(v)) return v;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`metric ${name} never satisfied the condition (last ${v})`);
  }
}

/** Emits with an ack; resolves with the ack payload, bounded in time. */
export function ask(socket, event, payload, ms = 15_000) {
  return deadline(socket.timeout(ms).emitWithAck(event, payload), ms + 1000, `ack of ${event}`);
}

/**
 * Collects `container-log` lines of one container on a socket, plus every
 * other labtail event, until `done(state)` is true.
 */
export function collect(socket, containerName) {
  const state = { lines: [], events: [], logs: [] };
  const waiters = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (w.pred(state)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(state);
      }
    }
  };
  const onLog = (p) => {
    if (p.containerName !== containerName) return;
    state.lines.push(...p.lines);
    state.logs.push(p.log);
    state.events.push({ event: 'container-log', n: p.lines.length });
    check();
  };
  const others = ['container-log-end', 'container-log-gap', 'container-status'];
  const handlers = others.map((ev) => [ev, (p) => {
    if (p.containerName !== containerName) return;
    state.events.push({ event: ev, ...p });
    check();
  }]);
  socket.on('container-log', onLog);
  for (const [ev, h] of handlers) socket.on(ev, h);
  state.until = (pred, ms = 20_000, what = 'lines') => deadline(new Promise((resolve) => {
    waiters.push({ pred, resolve });
    check();
  }), ms, `${what} on ${containerName} (have ${state.lines.length} lines, events ${JSON.stringify(state.events.filter((e) => e.event !== 'container-log'))})`);
  state.stop = () => {
    socket.off('container-log', onLog);
    for (const [ev, h] of handlers) socket.off(ev, h);
  };
  return state;
}

export const texts = (lines, stream) => lines.filter((l) => !stream || l.stream === stream).map((l) => l.text);

/**
 * Whether a line with this text arrived in `state.lines`, scanning only the
 * lines not scanned before: cheap enough to poll every 10 ms over 200 000
 * lines (rebuilding `texts(...)` on each poll starved the client's own event
 * loop until it missed its pings).
 */
export function arrived(state, text) {
  state.scanned ??= new Map();
  let from = state.scanned.get(text) ?? 0;
  if (from > state.lines.length) from = 0;
  for (let i = from; i < state.lines.length; i++) {
    if (state.lines[i].text === text) return true;
  }
  state.scanned.set(text, state.lines.length);
  return false;
}
export const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => String(a + i));

/**
 * A Docker engine of the test's own (its own socket, data root and managed
 * containerd), so a test can stop and start it without touching the engine
 * every other test uses. Needs root, as dockerd does. It runs in a network
 * namespace of its own: a second dockerd in the host's namespace deletes the
 * first one's docker0 bridge. Its containers use `--network none`.
 */
export class PrivateEngine {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'labtail-dockerd-'));
    this.host = `unix://${this.dir}/docker.sock`;
  }

  running() {
    return this.proc && this.proc.exitCode === null;
  }

  async start() {
    const args = ['--host', this.host, '--data-root', `${this.dir}/data`,
      '--exec-root', `${this.dir}/exec`, '--pidfile', `${this.dir}/docker.pid`,
      '--bridge', 'none', '--iptables=false', '--ip6tables=false'];
    this.proc = spawn('unshare', ['--net', 'dockerd', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    this.proc.stderr.on('data', (d) => { log = (log + d).slice(-4000); });
    const end = Date.now() + 60_000;
    while (Date.now() < end) {
      if (this.proc.exitCode !== null) throw new Error(`dockerd exited: ${log}`);
      if (spawnSync('docker', ['-H', this.host, 'info'], { stdio: 'ignore' }).status === 0) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`dockerd did not answer within 60 s: ${log}`);
  }

  /** SIGTERM, then wait until dockerd has exited (it stops containers first). */
  async stop() {
    if (!this.running()) return;
    const exited = new Promise((r) => this.proc.on('exit', r));
    this.proc.kill('SIGTERM');
    await deadline(exited, 60_000, 'the private dockerd to exit');
  }

  /** Copies an image from the main engine into this one. */
  loadImage(image) {
    const save = spawnSync('docker', ['save', image], { maxBuffer: 1 << 28 });
    if (save.status !== 0) throw new Error('docker save failed');
    const load = spawnSync('docker', ['-H', this.host, 'load', '-q'], { input: save.stdout });
    if (load.status !== 0) throw new Error(`docker load failed: ${load.stderr}`);
  }

  async destroy() {
    if (this.running()) {
      spawnSync('sh', ['-c', `docker -H ${this.host} rm -f $(docker -H ${this.host} ps -aq) 2>/dev/null`]);
      await this.stop();
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A bare Socket.IO v5 client over one WebSocket, for packets the real client
 * would never send (deep nesting, broken JSON, lying attachment counts).
 * `send(text)` sends a raw Socket.IO packet; `acks` collects ack packets.
 */
export async function rawSocket(url, cookie) {
  const { WebSocket } = await import('ws');
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`, {
    headers: cookie ? { cookie } : {},
  });
  const state = { ws, packets: [], closed: false, closeCode: null };
  ws.on('message', (data) => {
    const text = data.toString();
    if (text === '2') { ws.send('3'); return; } // ping -> pong
    state.packets.push(text);
  });
  ws.on('close', (code) => { state.closed = true; state.closeCode = code; });
  await deadline(new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); }), 10_000, 'raw ws open');
  await poll(() => (state.packets.some((p) => p.startsWith('0')) ? true : undefined), 10_000, 'engine.io open packet');
  ws.send('40');
  await poll(() => (state.packets.some((p) => p.startsWith('40') || p.startsWith('44')) ? true : undefined),
    10_000, 'socket.io connect answer');
  state.send = (text) => ws.send(text);
  /** Waits for the ack packet with this id; resolves with its payload. */
  state.ack = (id, ms = 10_000) => poll(() => {
    const p = state.packets.find((x) => x.startsWith(`43${id}[`));
    return p ? JSON.parse(p.slice(`43${id}`.length))[0] : undefined;
  }, ms, `raw ack ${id}`);
  state.close = () => ws.close();
  return state;
}

/**
 * A transparent proxy in front of the Docker socket that records every
 * request line labtail sends. Run labtail with `--docker-host
 * unix://<proxy.path>` and inspect `proxy.requests`.
 */
export async function dockerRecorder(target = '/var/run/docker.sock') {
  const dir = mkdtempSync(join(tmpdir(), 'labtail-docker-proxy-'));
  const path = join(dir, 'docker.sock');
  const requests = [];
  const server = createServer((client) => {
    const upstream = connect(target);
    let buf = '';
    client.on('data', (d) => {
      buf += d.toString('latin1');
      // Requests are GETs without bodies: every request line is recorded;
      // anything else (a body, another method) is recorded as well and
      // fails the test's allow-list.
      let m;
      const re = /(^|\r\n)([A-Z]+) (\S+) HTTP\/1\.[01]\r\n/g;
      while ((m = re.exec(buf)) !== null) requests.push({ method: m[2], path: m[3] });
      const cut = buf.lastIndexOf('\r\n\r\n');
      if (cut >= 0) buf = buf.slice(cut + 4);
      upstream.write(d);
    });
    upstream.on('data', (d) => client.write(d));
    const end = () => { client.destroy(); upstream.destroy(); };
    client.on('error', end); upstream.on('error', end);
    client.on('close', end); upstream.on('close', end);
  });
  await new Promise((res) => server.listen(path, res));
  return {
    host: `unix://${path}`,
    requests,
    close: () => new Promise((res) => { server.close(res); rmSync(dir, { recursive: true, force: true }); }),
  };
}

/**
 * A fresh database on the test Postgres (scripts/prereqs.sh starts one and
 * exports LABTAIL_TEST_POSTGRES_URL, a superuser URL). Returns its URL and a
 * function that drops it.
 */
export function freshPostgres() {
  const admin = process.env.LABTAIL_TEST_POSTGRES_URL;
  if (!admin) throw new Error('LABTAIL_TEST_POSTGRES_URL is not set: run scripts/test (it starts a test Postgres)');
  const name = `labtail_e2e_${uid()}`;
  const psql = (sql) => {
    const r = spawnSync('psql', [admin, '-v', 'ON_ERROR_STOP=1', '-qc', sql], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`psql ${sql} failed: ${r.stderr}`);
  };
  psql(`CREATE DATABASE ${name}`);
  const url = `${admin.slice(0, admin.lastIndexOf('/'))}/${name}`;
  return { url, drop: () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/**
 * A Redis of the test's own on a loopback port (scripts/prereqs.sh installs
 * redis-server and exports LABTAIL_TEST_REDIS_SERVER), so a test can kill and
 * restart it without touching anything else. No persistence: a restart is
 * an empty Redis, as after a crash.
 */
export class TestRedis {
  constructor() {
    this.bin = process.env.LABTAIL_TEST_REDIS_SERVER;
    if (!this.bin) throw new Error('LABTAIL_TEST_REDIS_SERVER is not set: run scripts/test (prereqs installs redis-server)');
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start() {
    this.port ??= await freePort();
    this.proc = spawn(this.bin, ['--port', String(this.port), '--bind', '127.0.0.1',
      '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    const ready = new Promise((res, rej) => {
      this.proc.stdout.on('data', (d) => {
        log = (log + d).slice(-4000);
        if (log.includes('Ready to accept connections')) res();
      });
      this.proc.on('exit', (code) => rej(new Error(`redis-server exited with ${code}: ${log}`)));
    });
    await deadline(ready, 15_000, 'redis-server to accept connections');
  }

  /** Kills Redis (SIGKILL: no goodbye to its clients, as in a crash). */
  async kill() {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.on('exit', r));
    p.kill('SIGKILL');
    await deadline(exited, 10_000, 'redis-server to exit');
  }

  /** `redis-cli` against this Redis; its trimmed output. */
  cli(...args) {
    const r = spawnSync(join(dirname(this.bin), 'redis-cli'), ['-p', String(this.port), ...args],
      { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  }
}

/** A TCP port free on loopback now. */
export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

// Two Node designs, reproduced for benchmarks (and only for them).
//
// DESIGN=tutorial (the default; the design labtail replaces): a logged-in
// user emits `start-container-logs {containerName}`, the server spawns
// `docker logs -f <name>` for that request and emits every stdout chunk as
// `container-log {containerName, log}` to the room `container:<username>`.
// Its known faults are kept on purpose (no ownership check, one process per
// request, chunks not lines, full history replay).
//
// DESIGN=shared (what a competent Node developer writes): one
// `docker logs -f` child per container, started by its first watcher with
// that watcher's `tail` and stopped with its last, each chunk emitted once
// to the room `logs:<name>` (socket.io encodes a room broadcast once).
// Later watchers get the live stream only. Still no ownership check: the
// benchmark measures the streaming path, not authorisation.
//
//   PORT=4000 USERS='{"alice":"pw"}' DESIGN=shared node server.js

const http = require('node:http');
const { spawn } = require('node:child_process');
const express = require('express');
const session = require('express-session');
const { Server } = require('socket.io');

const users = JSON.parse(process.env.USERS ?? '{}');
const app = express();
const sessions = session({ secret: 'bench-only', resave: false, saveUninitialized: false });
app.use(express.json());
app.use(sessions);
app.post('/api/login', (req, res) => {
  const { username, password } = req.body ?? {};
  if (users[username] === undefined || users[username] !== password) {
    return res.status(401).json({ error: { code: 'invalid_credentials' } });
  }
  req.session.user = username;
  res.json({ username, role: 'student' });
});

const server = http.createServer(app);
const io = new Server(server, { maxHttpBufferSize: 1e6 });
io.engine.use(sessions);
const design = process.env.DESIGN ?? 'tutorial';

function tutorial(socket, user) {
  socket.join(`container:${user}`);
  const procs = [];
  socket.on('start-container-logs', (payload, ack) => {
    const name = payload?.containerName;
    const child = spawn('docker', ['logs', '-f', name]);
    procs.push(child);
    child.stdout.on('data', (chunk) => {
      io.to(`container:${user}`).emit('container-log', { containerName: name, log: chunk.toString() });
    });
    if (typeof ack === 'function') ack({ ok: true, containerName: name });
  });
  socket.on('stop-container-logs', (payload, ack) => {
    for (const p of procs.splice(0)) p.kill();
    if (typeof ack === 'function') ack({ ok: true });
  });
  socket.on('disconnect', () => { for (const p of procs.splice(0)) p.kill(); });
}

// name -> { child, watchers }
const shared = new Map();

function unwatch(name) {
  const s = shared.get(name);
  if (s && --s.watchers === 0) {
    s.child.kill();
    shared.delete(name);
  }
}

function sharedDesign(socket) {
  const watching = new Set();
  socket.on('start-container-logs', (payload, ack) => {
    const name = payload?.containerName;
    if (typeof name !== 'string') {
      if (typeof ack === 'function') ack({ ok: false });
      return;
    }
    if (!watching.has(name)) {
      watching.add(name);
      socket.join(`logs:${name}`);
      let s = shared.get(name);
      if (!s) {
        const tail = Number.isInteger(payload?.tail) ? String(payload.tail) : 'all';
        const child = spawn('docker', ['logs', '-f', '--tail', tail, name]);
        child.stdout.on('data', (chunk) => {
          io.to(`logs:${name}`).emit('container-log', { containerName: name, log: chunk.toString() });
        });
        s = { child, watchers: 0 };
        shared.set(name, s);
      }
      s.watchers++;
    }
    if (typeof ack === 'function') ack({ ok: true, containerName: name });
  });
  socket.on('stop-container-logs', (payload, ack) => {
    const name = payload?.containerName;
    if (watching.delete(name)) {
      socket.leave(`logs:${name}`);
      unwatch(name);
    }
    if (typeof ack === 'function') ack({ ok: true });
  });
  socket.on('disconnect', () => {
    for (const name of watching) unwatch(name);
    watching.clear();
  });
}

io.on('connection', (socket) => {
  const user = socket.request.session?.user;
  if (!user) return socket.disconnect(true);
  if (design === 'shared') sharedDesign(socket);
  else tutorial(socket, user);
});

server.listen(Number(process.env.PORT ?? 4000), '127.0.0.1', () => {
  console.log(`baseline (${design}) listening on http://127.0.0.1:${server.address().port}`);
});

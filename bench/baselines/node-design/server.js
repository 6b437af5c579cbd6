// The design labtail replaces, reproduced for benchmarks (and only for them):
// a logged-in user emits `start-container-logs {containerName}`, the server
// spawns `docker logs -f <name>` for that request and emits every stdout
// chunk as `container-log {containerName, log}` to the room
// `container:<username>`. Its known faults are kept on purpose (no ownership
// check, one process per request, chunks not lines, full history replay).
//
//   PORT=4000 USERS='{"alice":"pw"}' node server.js

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
io.on('connection', (socket) => {
  const user = socket.request.session?.user;
  if (!user) return socket.disconnect(true);
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
});

server.listen(Number(process.env.PORT ?? 4000), '127.0.0.1', () => {
  console.log(`baseline listening on http://127.0.0.1:${server.address().port}`);
});

// The basic flow with an independent client implementation (python-socketio),
// so labtail is not only tested against the client it was developed with.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve, join } from 'node:path';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { World } from '../lib/harness.mjs';

// scripts/prereqs.sh makes a venv with python-socketio and exports its path.
const venv = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'labtail/venv/bin/python');
const PYTHON = process.env.LABTAIL_TEST_PYTHON ?? (existsSync(venv) ? venv : 'python3');
const w = new World();
after(() => w.cleanup());

test('python-socketio: login, list, start, ordered lines, invalid payload', async () => {
  await w.start();
  const u = w.addUser('pyuser', 'student');
  const box = w.run('pyuser', 'seq 1 300; sleep 300');
  w.docker('logs', box); // the container exists before the client looks
  const script = resolve(import.meta.dirname, '../python/basic_flow.py');
  const r = spawnSync(PYTHON, [script, w.url, u.name, u.password, box, '300'], {
    encoding: 'utf8', timeout: 60_000,
  });
  assert.equal(r.status, 0, `python client (${JSON.stringify(PYTHON)}) failed: ${r.error ?? ''}\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^ok$/m);
});

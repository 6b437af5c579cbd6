// `labtail serve --demo` (what scripts/demo runs): demo users with printed
// passwords, labelled demo containers while it runs, and none left behind
// once it stops.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { World, ask } from '../lib/harness.mjs';

const w = new World();
after(() => w.cleanup());

test('the demo starts its containers, its users can log in, and it removes them when it stops', async () => {
  // A prefix of the test's own, so that a developer's demo is left alone.
  const prefix = `labtail-e2e-demo-${w.id}`;
  const names = ['alice-web', 'alice-tests', 'bob-app'].map((n) => `${prefix}-${n}`);
  w.containers.push(...names); // removed by cleanup if the test fails
  await w.start(['--demo'], { LABTAIL_DEMO_PREFIX: prefix });
  const out = w.stdout();
  assert.match(out, /3 demo containers running/);
  const password = out.match(/^\s+alice\s+student\s+(\S+)$/m)?.[1];
  assert.ok(password, out);
  const listed = w.docker('ps', '--filter', `label=${w.label}`, '--format', '{{.Names}}').split('\n').sort();
  assert.deepEqual(listed, [...names].sort());

  const s = await w.connect(await w.login('alice', password));
  const list = await ask(s, 'list-containers', {});
  assert.deepEqual(list.containers.map((c) => c.name), [names[1], names[0]]);
  s.disconnect();

  await w.stop();
  const left = w.docker('ps', '-a', '--filter', `label=${w.label}`, '--format', '{{.Names}}');
  assert.equal(left, '', 'no demo container is left');
  assert.match(w.stdout(), /removed the demo containers/);
});

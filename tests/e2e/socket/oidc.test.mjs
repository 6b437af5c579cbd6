// School sign-in against the real labtail: a real OpenID provider (panva's
// oidc-provider) for the whole flow through its own login and consent
// forms, and a scripted provider for the tokens a real one will not forge
// on demand. Every refusal is a stable code, an HTML page (JSON when
// asked), no session, and an audit record.

import { test, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { World, BIN, ask, freePort } from '../lib/harness.mjs';
import { Browser, RealProvider, ScriptedProvider } from '../lib/idp.mjs';

const worlds = [];
const world = (opts) => { const w = new World(opts); worlds.push(w); return w; };
const providers = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) await w.cleanup();
  for (const p of providers.splice(0)) await p.stop();
});

const GROUPS = `
[[group]]
name = "net101-staff"
role = "instructor"
course = "NET101"

[[group]]
name = "net101-students"
role = "student"
course = "NET101"

[[group]]
name = "lab-admins"
role = "admin"
`;

/**
 * A labtail world set up for sign-in with `provider` (not started yet: its
 * port is fixed first, the redirect URL needs it).
 */
async function oidcWorld(extra = []) {
  const w = world();
  const port = await freePort();
  w.url = `http://127.0.0.1:${port}`;
  const client = { id: `labtail-${w.id}`, secret: `secret-${w.id}`, redirect: `${w.url}/api/oidc/callback` };
  writeFileSync(`${w.dataDir}/groups.toml`, GROUPS);
  writeFileSync(`${w.dataDir}/secret`, `${client.secret}\n`);
  const args = (issuer) => ['--oidc-issuer', issuer, '--oidc-client-id', client.id,
    '--oidc-client-secret-file', `${w.dataDir}/secret`, '--oidc-redirect-url', client.redirect,
    '--oidc-groups-file', `${w.dataDir}/groups.toml`, '--oidc-display-name', 'Sign in with Test U',
    '--oidc-scopes', 'profile,groups', ...extra];
  return { w, client, args };
}

/** Starts a sign-in at labtail: the browser's cookie and the provider URL. */
async function begin(b, w) {
  const res = await b.fetch(`${w.url}/api/oidc/login`);
  assert.equal(res.status, 302, `login: ${res.status}`);
  return res.headers.get('location');
}

/** Follows the scripted provider back to labtail's callback URL. */
async function toCallback(b, w, providerUrl) {
  const { url } = await b.walk(providerUrl, { stop: (u) => u.startsWith(`${w.url}/api/oidc/callback`) });
  return url;
}

/** The callback's answer, as JSON. */
async function callback(b, url, json = true) {
  return b.fetch(url, { headers: json ? { accept: 'application/json' } : {} });
}

function audit(w) {
  return w.cli(['audit', '--json', '--limit', '200']).stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

describe('a real provider', () => {
  test('a student and an instructor sign in through its forms; roles and courses come from groups', async () => {
    const { w, client, args } = await oidcWorld();
    const idp = new RealProvider({
      port: await freePort(),
      client,
      users: {
        'amy-at-school': { username: 'Amy', groups: ['net101-students', 'unrelated'] },
        'tess-at-school': { username: 'tess', groups: ['net101-staff'] },
        'nobody-at-school': { username: 'nobody', groups: ['alumni'] },
      },
    });
    providers.push(idp);
    await idp.start();
    await w.start(args(idp.issuer));
    const options = await (await fetch(`${w.url}/api/login-options`)).json();
    assert.deepEqual(options, { local: true, oidc: { name: 'Sign in with Test U', url: '/api/oidc/login' } });

    const signIn = async (login) => {
      const b = new Browser();
      const { res, url, html } = await b.walk(`${w.url}/api/oidc/login`, {
        fill: (_action, form) => (/type="password"/.test(form) ? { login, password: 'any' } : {}),
        stop: (u) => u === `${w.url}/`,
      });
      return { b, res, url, html };
    };
    const amy = await signIn('amy-at-school');
    assert.equal(amy.url, `${w.url}/`, 'the callback sends the browser home');
    const me = await (await amy.b.fetch(`${w.url}/api/me`)).json();
    assert.deepEqual(me, { username: 'amy', role: 'student', courses: ['NET101'] });
    // The session is an ordinary one: a socket connects with it.
    const s = await w.connect(amy.b.header(w.url));
    assert.equal((await ask(s, 'list-containers', {})).ok, true);
    // A student may not open the dashboard.
    assert.equal((await ask(s, 'watch-dashboard', {})).error.code, 'forbidden');

    const tess = await signIn('tess-at-school');
    const tme = await (await tess.b.fetch(`${w.url}/api/me`)).json();
    assert.deepEqual(tme, { username: 'tess', role: 'instructor', courses: ['NET101'] });
    const course = w.cli(['course', 'list']).stdout;
    assert.match(course, /NET101\s+tess\s+amy/);

    // Groups that map to nothing: refused, no session.
    const nobody = await signIn('nobody-at-school');
    assert.equal(nobody.res.status, 403);
    assert.match(nobody.html, /oidc_unmapped/);
    assert.equal((await nobody.b.fetch(`${w.url}/api/me`)).status, 401);
    assert.ok(audit(w).some((r) => r.kind === 'login_failed' && r.username === 'nobody' && r.detail.includes('oidc_unmapped')));
    assert.ok(audit(w).some((r) => r.kind === 'login' && r.username === 'amy' && r.detail === 'oidc'));

    // Password login still works beside it, for local accounts.
    const local = w.addUser('loc', 'student');
    await w.login(local.name, local.password);
  });
});

describe('a scripted provider', () => {
  test('every forged, replayed or mismatched answer is refused with its code and audited', async () => {
    const { w, client, args } = await oidcWorld(['--oidc-jwks-refresh-interval', '0s']);
    const idp = new ScriptedProvider({ port: await freePort(), client });
    providers.push(idp);
    await idp.start();
    await w.start(args(idp.issuer));

    // The good path first: the ID token carries the claims.
    let b = new Browser();
    let cb = await toCallback(b, w, await begin(b, w));
    let res = await callback(b, cb, false);
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/');
    assert.equal((await (await b.fetch(`${w.url}/api/me`)).json()).username, 'olga');
    // The same callback again: its state is used up.
    res = await callback(b, cb);
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error.code, 'oidc_state');

    // A replayed code under a fresh state: the provider refuses it.
    const usedCode = new URL(cb).searchParams.get('code');
    b = new Browser();
    let fresh = new URL(await toCallback(b, w, await begin(b, w)));
    fresh.searchParams.set('code', usedCode);
    res = await callback(b, fresh.toString());
    assert.equal((await res.json()).error.code, 'oidc_token');

    // A state this browser never started.
    b = new Browser();
    cb = new URL(await toCallback(b, w, await begin(b, w)));
    cb.searchParams.set('state', 'forged');
    res = await callback(b, cb.toString());
    assert.deepEqual([res.status, (await res.json()).error.code], [400, 'oidc_state']);
    // Another browser's callback (no pending sign-in in this session).
    const other = new Browser();
    const stolen = await toCallback(other, w, await begin(other, w));
    res = await callback(new Browser(), stolen);
    assert.equal((await res.json()).error.code, 'oidc_state');

    const refused = async (mode, code) => {
      idp.mode = mode;
      const br = new Browser();
      const r = await callback(br, await toCallback(br, w, await begin(br, w)));
      const body = await r.json();
      assert.equal(body.error.code, code, `${mode}: ${JSON.stringify(body)}`);
      assert.equal((await br.fetch(`${w.url}/api/me`)).status, 401, `${mode}: logged in`);
      return body;
    };
    for (const mode of ['tampered', 'expired', 'wrong-aud', 'wrong-iss', 'none', 'hs256', 'wrong-nonce']) {
      await refused(mode, 'oidc_token');
    }
    // Groups that map to nothing.
    idp.claims = { preferred_username: 'olga', groups: ['alumni'] };
    await refused('good', 'oidc_unmapped');
    // A name taken by a local account is refused, never merged.
    w.addUser('zed', 'student');
    idp.claims = { preferred_username: 'zed', groups: ['net101-students'] };
    idp.subject = 'subject-zed';
    await refused('good', 'oidc_conflict');
    // A name labtail cannot use.
    idp.claims = { preferred_username: 'not a name', groups: ['net101-students'] };
    await refused('good', 'oidc_username');

    // The provider rotates its key: labtail fetches the JWKS again.
    idp.claims = { preferred_username: 'olga', groups: ['lab-admins'] };
    idp.subject = 'subject-olga';
    idp.mode = 'good';
    await idp.rotate();
    b = new Browser();
    res = await callback(b, await toCallback(b, w, await begin(b, w)), false);
    assert.equal(res.status, 302);
    assert.deepEqual(await (await b.fetch(`${w.url}/api/me`)).json(), { username: 'olga', role: 'admin', courses: [] });

    // The provider goes away in the middle of a sign-in.
    b = new Browser();
    cb = await toCallback(b, w, await begin(b, w));
    await idp.stop();
    res = await callback(b, cb, false);
    assert.equal(res.status, 502);
    assert.match(res.headers.get('content-type'), /text\/html/);
    assert.match(await res.text(), /oidc_unavailable/);

    const failed = audit(w).filter((r) => r.kind === 'login_failed').map((r) => r.detail);
    for (const code of ['oidc_state', 'oidc_token', 'oidc_unmapped', 'oidc_conflict', 'oidc_username', 'oidc_unavailable']) {
      assert.ok(failed.some((d) => d.includes(code)), `no audit record of ${code}: ${failed.join(' | ')}`);
    }
  });

  test('--local-login off: passwords are refused over HTTP, the command line still works', async () => {
    const { w, client, args } = await oidcWorld(['--local-login', 'off']);
    const idp = new ScriptedProvider({ port: await freePort(), client });
    providers.push(idp);
    await idp.start();
    await w.start(args(idp.issuer));
    const u = w.addUser('loc', 'instructor');
    const res = await fetch(`${w.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: u.name, password: u.password }),
    });
    assert.equal(res.status, 403);
    assert.equal((await res.json()).error.code, 'local_login_disabled');
    assert.equal((await (await fetch(`${w.url}/api/login-options`)).json()).local, false);
  });
});

describe('misconfiguration is a start-up error naming the flag', () => {
  const run = (args) => spawnSync(BIN, ['serve', '--listen', '127.0.0.1:0', ...args], { encoding: 'utf8', timeout: 60_000 });

  test('an unreachable issuer, a bad mapping file, an http redirect to another host', async () => {
    const { w, args } = await oidcWorld();
    const dead = `http://127.0.0.1:${await freePort()}`;
    let r = run([...args(dead), '--data-dir', w.dataDir]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--oidc-issuer/);

    const idp = new ScriptedProvider({ port: await freePort(), client: { id: 'x', secret: 'y' } });
    providers.push(idp);
    await idp.start();
    writeFileSync(`${w.dataDir}/groups.toml`, '[[group]]\nname = "a"\nrole = "student"\n');
    r = run([...args(idp.issuer), '--data-dir', w.dataDir]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--oidc-groups-file .*line 1.*needs a course/);

    writeFileSync(`${w.dataDir}/groups.toml`, GROUPS);
    const plain = args(idp.issuer).map((a) => a.replace('http://127.0.0.1', 'http://labs.example.org'));
    r = run([...plain.slice(0, 1), idp.issuer, ...plain.slice(2), '--data-dir', w.dataDir]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--oidc-redirect-url/);

    r = run(['--local-login', 'off', '--data-dir', w.dataDir]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--local-login off needs --oidc-issuer/);
  });
});


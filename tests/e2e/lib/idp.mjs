// Identity providers for the sign-in tests, on loopback.
//
// - `RealProvider`: panva's `oidc-provider` (OpenID certified), with its own
//   login and consent pages (dev interactions), a confidential client, and
//   users whose `preferred_username` and `groups` the test sets. It is the
//   real part: labtail signs in against it as against Keycloak or Entra.
// - `ScriptedProvider`: a fake, only for the faults a real provider will
//   not produce on demand (a tampered, expired, wrong-audience, `alg: none`
//   or HMAC-signed ID token, a wrong nonce, a rotated key, an outage in the
//   middle of a sign-in). It speaks the same protocol (discovery, JWKS, the
//   code flow with PKCE checked) and signs with real RSA keys (`jose`).

import { createServer } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';

/**
 * Follows a browser's way through redirects and the provider's forms
 * without a browser: one cookie jar per origin, `fill` answers each form.
 */
export class Browser {
  constructor() { this.jars = new Map(); }

  cookies(url) { return this.jars.get(new URL(url).origin) ?? new Map(); }

  keep(url, res) {
    const jar = this.cookies(url);
    for (const c of res.headers.getSetCookie()) {
      const [kv] = c.split(';');
      const i = kv.indexOf('=');
      jar.set(kv.slice(0, i).trim(), kv.slice(i + 1));
    }
    this.jars.set(new URL(url).origin, jar);
  }

  header(url) {
    return [...this.cookies(url)].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** One request, no redirect followed; keeps the cookies it sets. */
  async fetch(url, init = {}) {
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers ?? {}), cookie: this.header(url) },
    });
    this.keep(url, res);
    return res;
  }

  /**
   * Follows redirects from `url`, submitting every form of the provider
   * (its own fields, and what `fill(action, formHtml)` adds), until a response is neither a
   * redirect nor a provider form, or `stop(url)` says so. Resolves with
   * that response and the URL it came from.
   */
  async walk(url, { fill = () => ({}), stop = () => false, headers = {} } = {}) {
    let res;
    let method = 'GET';
    let body;
    for (let hop = 0; hop < 20; hop++) {
      if (stop(url)) return { url, res: null };
      res = await this.fetch(url, {
        method,
        headers: method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded', ...headers } : headers,
        body,
      });
      method = 'GET';
      body = undefined;
      if (res.status >= 300 && res.status < 400) {
        url = new URL(res.headers.get('location'), url).toString();
        continue;
      }
      const type = res.headers.get('content-type') ?? '';
      if (!type.includes('html')) return { url, res };
      const html = await res.text();
      const form = html.match(/<form[^>]*>[\s\S]*?<\/form>/i)?.[0];
      const action = form?.match(/action="([^"]+)"/i)?.[1];
      if (!form || !/method="post"/i.test(form) || !action) return { url, res, html };
      // The form's own fields (hidden ones carry its state), then the test's.
      const fields = {};
      for (const input of form.matchAll(/<input[^>]*>/gi)) {
        const name = input[0].match(/name="([^"]+)"/i)?.[1];
        if (name) fields[name] = input[0].match(/value="([^"]*)"/i)?.[1] ?? '';
      }
      url = new URL(action.replaceAll('&amp;', '&'), url).toString();
      method = 'POST';
      body = new URLSearchParams({ ...fields, ...fill(url, form) }).toString();
    }
    throw new Error(`too many redirects, last ${url}`);
  }
}

/** panva's oidc-provider with one client and the given users. */
export class RealProvider {
  /**
   * `users`: { login: { username, groups } }; `client`: { id, secret,
   * redirect }.
   */
  constructor({ port, users, client }) {
    this.port = port;
    this.issuer = `http://127.0.0.1:${port}`;
    this.users = users;
    this.client = client;
  }

  async start() {
    const users = this.users;
    const provider = new Provider(this.issuer, {
      clients: [{
        client_id: this.client.id,
        client_secret: this.client.secret,
        redirect_uris: [this.client.redirect],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      }],
      scopes: ['openid', 'profile', 'groups'],
      claims: { openid: ['sub'], profile: ['preferred_username', 'name'], groups: ['groups'] },
      // The claims go to userinfo, not the ID token (the provider's
      // default, and Entra's habit with groups): labtail must ask there.
      conformIdTokenClaims: true,
      findAccount: async (_ctx, id) => (users[id] ? {
        accountId: id,
        claims: async () => ({ sub: id, preferred_username: users[id].username, groups: users[id].groups }),
      } : undefined),
      pkce: { required: () => true },
      cookies: { keys: [randomBytes(16).toString('hex')] },
      features: { devInteractions: { enabled: true } },
    });
    provider.proxy = false;
    // Quiet: the dev-mode warnings are about this very setup.
    provider.on('server_error', () => {});
    await new Promise((res) => {
      this.server = provider.listen(this.port, '127.0.0.1', res);
    });
  }

  async stop() {
    if (!this.server) return;
    this.server.closeAllConnections?.();
    await new Promise((res) => this.server.close(res));
    this.server = null;
  }
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');

/** A scripted provider: each token answer is what `mode` says. */
export class ScriptedProvider {
  constructor({ port, client }) {
    this.port = port;
    this.issuer = `http://127.0.0.1:${port}`;
    this.client = client;
    this.codes = new Map();
    this.mode = 'good';
    this.claims = { preferred_username: 'olga', groups: ['net101-students'] };
    this.subject = 'subject-olga';
    this.tokenRequests = 0;
  }

  async start() {
    if (!this.key) {
      this.key = await this.newKey('k1');
      this.keys = [this.key];
    }
    this.server = createServer((req, res) => this.handle(req, res).catch((e) => {
      res.writeHead(500);
      res.end(String(e));
    }));
    await new Promise((res) => this.server.listen(this.port, '127.0.0.1', res));
  }

  async stop() {
    if (!this.server) return;
    this.server.closeAllConnections?.();
    await new Promise((res) => this.server.close(res));
    this.server = null;
  }

  async newKey(kid) {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
    return { kid, privateKey, jwk };
  }

  /** Signs with a key the provider publishes only now (a rotation). */
  async rotate() {
    this.key = await this.newKey(`k${this.keys.length + 1}`);
    this.keys.push(this.key);
  }

  json(res, status, v) {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(v));
  }

  async handle(req, res) {
    const url = new URL(req.url, this.issuer);
    if (url.pathname === '/.well-known/openid-configuration') {
      return this.json(res, 200, {
        issuer: this.issuer,
        authorization_endpoint: `${this.issuer}/authorize`,
        token_endpoint: `${this.issuer}/token`,
        jwks_uri: `${this.issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (url.pathname === '/jwks') return this.json(res, 200, { keys: this.keys.map((k) => k.jwk) });
    if (url.pathname === '/authorize') {
      const p = url.searchParams;
      const code = randomBytes(12).toString('hex');
      this.codes.set(code, {
        nonce: p.get('nonce'),
        challenge: p.get('code_challenge'),
        redirect: p.get('redirect_uri'),
        used: false,
      });
      const back = new URL(p.get('redirect_uri'));
      back.searchParams.set('code', code);
      back.searchParams.set('state', p.get('state'));
      res.writeHead(302, { location: back.toString() });
      return res.end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      this.tokenRequests++;
      let body = '';
      for await (const chunk of req) body += chunk;
      const form = new URLSearchParams(body);
      const auth = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString();
      const [id, secret] = auth.split(':').map(decodeURIComponent);
      if (id !== this.client.id || secret !== this.client.secret) return this.json(res, 401, { error: 'invalid_client' });
      const grant = this.codes.get(form.get('code'));
      if (!grant || grant.used) return this.json(res, 400, { error: 'invalid_grant', error_description: 'code unknown or used' });
      grant.used = true;
      const verifier = form.get('code_verifier') ?? '';
      if (createHash('sha256').update(verifier).digest('base64url') !== grant.challenge) {
        return this.json(res, 400, { error: 'invalid_grant', error_description: 'PKCE verifier does not match' });
      }
      return this.json(res, 200, {
        access_token: randomBytes(16).toString('hex'),
        token_type: 'Bearer',
        expires_in: 300,
        id_token: await this.idToken(grant.nonce),
      });
    }
    res.writeHead(404);
    res.end();
  }

  /** The ID token `mode` asks for. */
  async idToken(nonce) {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      ...this.claims,
      nonce: this.mode === 'wrong-nonce' ? 'not-the-nonce' : nonce,
    };
    const aud = this.mode === 'wrong-aud' ? 'someone-else' : this.client.id;
    const exp = this.mode === 'expired' ? now - 3600 : now + 300;
    const iat = this.mode === 'expired' ? now - 7200 : now;
    if (this.mode === 'none') {
      const header = b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }));
      const payload = b64url(JSON.stringify({ ...claims, iss: this.issuer, sub: this.subject, aud, exp, iat }));
      return `${header}.${payload}.`;
    }
    if (this.mode === 'hs256') {
      return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuer(this.issuer)
        .setSubject(this.subject).setAudience(aud).setIssuedAt(iat).setExpirationTime(exp)
        .sign(new TextEncoder().encode(this.client.secret));
    }
    const jwt = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: this.key.kid })
      .setIssuer(this.mode === 'wrong-iss' ? 'https://elsewhere' : this.issuer)
      .setSubject(this.subject).setAudience(aud).setIssuedAt(iat).setExpirationTime(exp)
      .sign(this.key.privateKey);
    if (this.mode !== 'tampered') return jwt;
    // Same signature, another user's groups: the signature no longer fits.
    const [h, p, s] = jwt.split('.');
    const body = JSON.parse(Buffer.from(p, 'base64url').toString());
    body.groups = ['lab-admins'];
    return `${h}.${b64url(JSON.stringify(body))}.${s}`;
  }
}

import { afterEach, describe, expect, it, vi } from 'vitest';
import { FALLBACK_OPTIONS, loginOptions, parseLoginOptions } from '../src/lib/api';

const school = { name: 'Sign in with Test U', url: '/api/oidc/login' };

describe('login options', () => {
  it('reads what the server offers', () => {
    expect(parseLoginOptions({ local: true, oidc: school })).toEqual({ local: true, oidc: school });
    expect(parseLoginOptions({ local: false, oidc: school })).toEqual({ local: false, oidc: school });
    expect(parseLoginOptions({ local: true, oidc: null })).toEqual({ local: true, oidc: null });
  });

  it('offers the password form for anything it cannot read', () => {
    for (const body of [null, 'yes', [], {}, { local: 'true', oidc: school }, { oidc: school }]) {
      expect(parseLoginOptions(body)).toEqual(FALLBACK_OPTIONS);
    }
    // Neither way in: the form, whose refusal says why.
    expect(parseLoginOptions({ local: false, oidc: null })).toEqual(FALLBACK_OPTIONS);
  });

  it('drops a school button that would leave this server, or has no text', () => {
    for (const url of ['https://evil.example/login', '//evil.example/login', '/\\evil.example', 'javascript:alert(1)', '', 42]) {
      expect(parseLoginOptions({ local: true, oidc: { name: 'Sign in', url } })).toEqual({ local: true, oidc: null });
    }
    expect(parseLoginOptions({ local: true, oidc: { name: '  ', url: '/api/oidc/login' } })).toEqual({ local: true, oidc: null });
    // Only a button that does not work: the form instead.
    expect(parseLoginOptions({ local: false, oidc: { name: 'Sign in', url: 'https://elsewhere' } })).toEqual(FALLBACK_OPTIONS);
  });

  describe('asked over HTTP', () => {
    afterEach(() => vi.unstubAllGlobals());

    it('answers the server\'s options', async () => {
      const fetch = vi.fn(async () => new Response(JSON.stringify({ local: false, oidc: school }), { status: 200 }));
      vi.stubGlobal('fetch', fetch);
      expect(await loginOptions()).toEqual({ local: false, oidc: school });
      expect(fetch).toHaveBeenCalledWith('/api/login-options', expect.objectContaining({ credentials: 'same-origin' }));
    });

    it('falls back to the password form when the request fails', async () => {
      vi.stubGlobal('fetch', vi.fn(async () => { throw new TypeError('Failed to fetch'); }));
      expect(await loginOptions()).toEqual(FALLBACK_OPTIONS);
      // An older labtail without the endpoint.
      vi.stubGlobal('fetch', vi.fn(async () => new Response('{"error":{"code":"not_found","message":"no"}}', { status: 404 })));
      expect(await loginOptions()).toEqual(FALLBACK_OPTIONS);
      // A proxy's HTML error page.
      vi.stubGlobal('fetch', vi.fn(async () => new Response('<html>bad gateway</html>', { status: 200 })));
      expect(await loginOptions()).toEqual(FALLBACK_OPTIONS);
    });
  });
});

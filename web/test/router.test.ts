import { describe, expect, test } from 'vitest';
import { href, parseRoute, type Route } from '../src/router';

describe('router', () => {
  test('every route survives href → parseRoute', () => {
    const routes: Route[] = [
      { page: 'home' },
      { page: 'dashboard' },
      { page: 'container', name: 'alice-lab1' },
      // With several Docker hosts, names are host/name.
      { page: 'container', name: 'lab2/alice-lab1' },
      { page: 'merged', names: ['lab1/a', 'lab2/b', 'c'] },
    ];
    for (const r of routes) {
      const url = new URL(href(r), 'http://x');
      expect(parseRoute(url.pathname, url.search)).toEqual(r);
    }
  });

  test('a host/name container is one path segment', () => {
    expect(href({ page: 'container', name: 'lab2/web' })).toBe('/c/lab2%2Fweb');
  });
});

import { describe, expect, test } from 'vitest';
import { href, parseRoute, type Route } from '../src/router';

describe('router', () => {
  test('every route survives href → parseRoute', () => {
    const routes: Route[] = [
      { page: 'home' },
      { page: 'dashboard' },
      // The course filter.
      { page: 'dashboard', course: 'NET101' },
      { page: 'dashboard', course: 'Ünï 2 & co' },
      // A notification's (and a webhook's) link to an attention entry.
      { page: 'dashboard', attention: 42 },
      { page: 'dashboard', course: 'NET101', attention: 7 },
      { page: 'labs' },
      { page: 'labs', name: 'net' },
      { page: 'container', name: 'alice-lab1' },
      // With several Docker hosts, names are host/name.
      { page: 'container', name: 'lab2/alice-lab1' },
      { page: 'merged', names: ['lab1/a', 'lab2/b', 'c'] },
      // A permalink: the line's cursor.
      { page: 'container', name: 'alice-lab1', at: '1796377265809994767-o000000' },
      { page: 'container', name: 'lab2/alice-lab1', at: '1796377265809994767-e000012' },
    ];
    for (const r of routes) {
      const url = new URL(href(r), 'http://x');
      expect(parseRoute(url.pathname, url.search)).toEqual(r);
    }
  });

  test('a permalink is the container\'s path with the line\'s cursor', () => {
    expect(href({ page: 'container', name: 'alice-lab1', at: '1796377265809994767-o000000' }))
      .toBe('/c/alice-lab1?at=1796377265809994767-o000000');
    expect(parseRoute('/c/alice-lab1', '?at=1796377265809994767-o000000'))
      .toStrictEqual({ page: 'container', name: 'alice-lab1', at: '1796377265809994767-o000000' });
    // No `at`, or an empty one: the live tail.
    expect(parseRoute('/c/alice-lab1', '')).toStrictEqual({ page: 'container', name: 'alice-lab1' });
    expect(parseRoute('/c/alice-lab1', '?at=')).toStrictEqual({ page: 'container', name: 'alice-lab1' });
  });

  test('a host/name container is one path segment', () => {
    expect(href({ page: 'container', name: 'lab2/web' })).toBe('/c/lab2%2Fweb');
  });

  test('the dashboard\'s course filter is in its address; none is every course', () => {
    expect(href({ page: 'dashboard', course: 'NET101' })).toBe('/dashboard?course=NET101');
    expect(href({ page: 'dashboard' })).toBe('/dashboard');
    expect(parseRoute('/dashboard', '?course=')).toStrictEqual({ page: 'dashboard' });
  });

  test('an attention entry\'s link is the dashboard with its id, as the server\'s webhooks make it', () => {
    expect(parseRoute('/dashboard', '?attention=42')).toStrictEqual({ page: 'dashboard', attention: 42 });
    expect(href({ page: 'dashboard', course: 'NET101', attention: 7 })).toBe('/dashboard?course=NET101&attention=7');
    expect(parseRoute('/dashboard', '?attention=x')).toStrictEqual({ page: 'dashboard' });
    expect(parseRoute('/dashboard', '?attention=-1')).toStrictEqual({ page: 'dashboard' });
  });

  test('labs are pages of their own', () => {
    expect(href({ page: 'labs', name: 'net' })).toBe('/labs/net');
    expect(parseRoute('/labs', '')).toStrictEqual({ page: 'labs' });
    expect(parseRoute('/labs/net/x', '')).toStrictEqual({ page: 'home' });
  });
});

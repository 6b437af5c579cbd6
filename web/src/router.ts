// A very small router over the History API: the server answers index.html
// for every app path, so these URLs can be bookmarked and reloaded. Paths
// under /api/ are the server's (school sign-in's /api/oidc/login and its
// callback among them): no route makes one, and the links to them are
// plain whole-page navigations.
import { useEffect, useState, type MouseEvent } from 'react';

export type Route =
  | { page: 'home' }
  /** `at`: a line's cursor, for a permalink: the viewer opens there. */
  | { page: 'container'; name: string; at?: string }
  | { page: 'merged'; names: string[] }
  /** `course`: the dashboard's course filter (none: every course);
   * `attention`: an entry to show (a notification's link). */
  | { page: 'dashboard'; course?: string; attention?: number }
  /** Instructors: the labs, or one lab's rules and checkpoints. */
  | { page: 'labs'; name?: string };

export function parseRoute(path: string, search: string): Route {
  const m = path.match(/^\/c\/([^/]+)$/);
  if (m) {
    const at = new URLSearchParams(search).get('at');
    return at ? { page: 'container', name: decodeURIComponent(m[1]!), at } : { page: 'container', name: decodeURIComponent(m[1]!) };
  }
  if (path === '/merged') {
    const names = (new URLSearchParams(search).get('c') ?? '').split(',').filter(Boolean);
    return { page: 'merged', names };
  }
  if (path === '/dashboard') {
    const q = new URLSearchParams(search);
    const course = q.get('course');
    const attention = Number(q.get('attention'));
    return {
      page: 'dashboard',
      ...(course ? { course } : {}),
      ...(Number.isSafeInteger(attention) && attention > 0 ? { attention } : {}),
    };
  }
  const lab = path.match(/^\/labs(?:\/([^/]+))?$/);
  if (lab) return lab[1] ? { page: 'labs', name: decodeURIComponent(lab[1]) } : { page: 'labs' };
  return { page: 'home' };
}

export function href(r: Route): string {
  switch (r.page) {
    case 'container': return `/c/${encodeURIComponent(r.name)}${r.at ? `?at=${encodeURIComponent(r.at)}` : ''}`;
    case 'merged': return `/merged?c=${r.names.map(encodeURIComponent).join(',')}`;
    case 'dashboard': {
      const q = new URLSearchParams();
      if (r.course) q.set('course', r.course);
      if (r.attention) q.set('attention', String(r.attention));
      const s = q.toString();
      return `/dashboard${s ? `?${s}` : ''}`;
    }
    case 'labs': return `/labs${r.name ? `/${encodeURIComponent(r.name)}` : ''}`;
    default: return '/';
  }
}

export function navigate(r: Route): void {
  window.history.pushState(null, '', href(r));
  window.dispatchEvent(new PopStateEvent('popstate'));
}

/** Changes the address without a new entry or a new view (a rename, the
 * line the user picked). */
export function replaceRoute(r: Route): void {
  window.history.replaceState(null, '', href(r));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.pathname, window.location.search));
  useEffect(() => {
    const on = () => setRoute(parseRoute(window.location.pathname, window.location.search));
    window.addEventListener('popstate', on);
    return () => window.removeEventListener('popstate', on);
  }, []);
  return route;
}

/** A link that navigates without reloading the page. */
export function onLink(r: Route) {
  return (e: MouseEvent) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    navigate(r);
  };
}

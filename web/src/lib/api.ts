// The HTTP half of the contract: how one may log in, login, logout, who am
// I, downloads (history's own requests are in history.ts).

import type { LoginOptions, Me } from './types';

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly retryAfter?: number) {
    super(message);
  }
}

export async function errorOf(res: Response): Promise<ApiError> {
  let code = 'http_error';
  let message = `HTTP ${res.status}`;
  try {
    const body = await res.json();
    code = body?.error?.code ?? code;
    message = body?.error?.message ?? message;
  } catch {
    // Not JSON: keep the status.
  }
  const retry = Number(res.headers.get('retry-after'));
  return new ApiError(res.status, code, message, Number.isFinite(retry) && retry > 0 ? retry : undefined);
}

/** What the login page offers when the server cannot say (an older labtail,
 * or the request failed): the password form, as before school sign-in. */
export const FALLBACK_OPTIONS: LoginOptions = { local: true, oidc: null };

/**
 * `GET /api/login-options` as the login page may trust it: anything that is
 * not that shape is the fallback. The school's button must lead to a path
 * on this server (`/api/oidc/login`): it is a full-page navigation, and a
 * malformed answer must not send a user's browser elsewhere.
 */
export function parseLoginOptions(body: unknown): LoginOptions {
  if (typeof body !== 'object' || body === null) return FALLBACK_OPTIONS;
  const { local, oidc } = body as Record<string, unknown>;
  if (typeof local !== 'boolean') return FALLBACK_OPTIONS;
  let school: LoginOptions['oidc'] = null;
  if (typeof oidc === 'object' && oidc !== null) {
    const { name, url } = oidc as Record<string, unknown>;
    if (typeof name === 'string' && name.trim() && typeof url === 'string' && /^\/(?![/\\])/.test(url)) {
      school = { name: name.trim(), url };
    }
  }
  // Neither way in would leave an empty page: offer the form, whose
  // refusal then says why.
  if (!local && !school) return FALLBACK_OPTIONS;
  return { local, oidc: school };
}

/** How this server lets people log in; the fallback when it cannot be asked. */
export async function loginOptions(signal?: AbortSignal): Promise<LoginOptions> {
  try {
    const res = await fetch('/api/login-options', { credentials: 'same-origin', signal });
    if (!res.ok) return FALLBACK_OPTIONS;
    return parseLoginOptions(await res.json());
  } catch {
    return FALLBACK_OPTIONS;
  }
}

export async function login(username: string, password: string): Promise<Me> {
  const res = await fetch('/api/login', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (!res.ok) throw await errorOf(res);
  return res.json();
}

export async function logout(): Promise<void> {
  await fetch('/api/logout', { method: 'POST', credentials: 'same-origin' });
}

/** The logged-in user, or null without a session. */
export async function me(): Promise<Me | null> {
  const res = await fetch('/api/me', { credentials: 'same-origin' });
  if (res.status === 401) return null;
  if (!res.ok) throw await errorOf(res);
  return res.json();
}

export function downloadUrl(container: string, timestamps: boolean): string {
  return `/api/containers/${encodeURIComponent(container)}/logs${timestamps ? '?timestamps=true' : ''}`;
}

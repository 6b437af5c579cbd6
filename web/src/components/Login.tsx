// The login page: the school's sign-in button and/or the password form, as
// the server says (`GET /api/login-options`). The button is a whole-page
// navigation to the server (`/api/oidc/login` answers with a redirect to
// the provider, and the provider's answer comes back to the server, which
// sends the browser to `/` logged in, or shows its own error page): the
// app's router never sees those URLs.

import { useEffect, useState, type FormEvent } from 'react';
import { ApiError, login, loginOptions } from '../lib/api';
import type { LoginOptions, Me } from '../lib/types';

/** How long the page waits for the options before offering the form. */
const OPTIONS_TIMEOUT_MS = 5000;

function useLoginOptions(): [LoginOptions | undefined, () => void] {
  const [options, setOptions] = useState<LoginOptions | undefined>(undefined);
  const [asked, setAsked] = useState(0);
  useEffect(() => {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), OPTIONS_TIMEOUT_MS);
    let live = true;
    void loginOptions(ctl.signal).then((o) => { if (live) setOptions(o); }).finally(() => clearTimeout(timer));
    return () => { live = false; ctl.abort(); clearTimeout(timer); };
  }, [asked]);
  return [options, () => setAsked((n) => n + 1)];
}

/** The school's button: leaves the app for the provider. */
function SchoolSignIn({ name, url }: { name: string; url: string }) {
  const [leaving, setLeaving] = useState(false);
  // Back from the provider's page, the browser may show this page from its
  // cache as it was left: the button must work again.
  useEffect(() => {
    const onShow = (e: PageTransitionEvent) => { if (e.persisted) setLeaving(false); };
    window.addEventListener('pageshow', onShow);
    return () => window.removeEventListener('pageshow', onShow);
  }, []);
  return (
    <button
      type="button"
      className="sso"
      data-testid="oidc-login"
      disabled={leaving}
      onClick={() => { setLeaving(true); window.location.assign(url); }}
    >
      {leaving ? 'Redirecting…' : name}
    </button>
  );
}

function PasswordForm({ onLogin, onDisabled }: { onLogin: (me: Me) => void; onDisabled: () => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      onLogin(await login(username.trim(), password));
    } catch (err) {
      if (err instanceof ApiError && err.code === 'invalid_credentials') setError('Wrong user name or password.');
      else if (err instanceof ApiError && err.code === 'rate_limited') setError(`Too many failed attempts. Try again in ${err.retryAfter ?? 'a few'} seconds.`);
      else if (err instanceof ApiError && err.code === 'local_login_disabled') onDisabled();
      else setError('labtail cannot be reached right now. Try again in a moment.');
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} data-testid="password-form">
      <label>
        User name
        <input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required autoFocus />
      </label>
      <label>
        Password
        <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
      </label>
      {error && <p className="error" role="alert">{error}</p>}
      <button type="submit" disabled={busy}>{busy ? 'Logging in…' : 'Log in'}</button>
    </form>
  );
}

export function Login({ onLogin, notice }: { onLogin: (me: Me) => void; notice?: string }) {
  const [options, askAgain] = useLoginOptions();
  const [refused, setRefused] = useState('');
  return (
    <main className="login">
      <section className="login-box" aria-labelledby="login-title">
        <h1 id="login-title">labtail</h1>
        <p className="muted">Live logs of your lab containers</p>
        {notice && <p className="notice" role="status">{notice}</p>}
        {refused && <p className="error" role="alert" data-testid="login-refused">{refused}</p>}
        {!options && <p className="muted" aria-busy="true">Loading…</p>}
        {options?.oidc && <SchoolSignIn name={options.oidc.name} url={options.oidc.url} />}
        {options?.oidc && options.local && <p className="or">or with a labtail password</p>}
        {options?.local && (
          <PasswordForm
            onLogin={onLogin}
            onDisabled={() => {
              setRefused('Password login is turned off on this server. Sign in with your school account instead.');
              // The form was there because the options could not be read:
              // ask again, for the school's button (the form goes if they say so).
              askAgain();
            }}
          />
        )}
      </section>
    </main>
  );
}

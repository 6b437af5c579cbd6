import { useState, type FormEvent } from 'react';
import { ApiError, login } from '../lib/api';
import type { Me } from '../lib/types';

export function Login({ onLogin, notice }: { onLogin: (me: Me) => void; notice?: string }) {
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
      else setError('labtail cannot be reached right now. Try again in a moment.');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">labtail</h1>
        <p className="muted">Live logs of your lab containers</p>
        {notice && <p className="notice" role="status">{notice}</p>}
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
    </main>
  );
}

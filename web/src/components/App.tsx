// The app shell: session, one socket for the whole page, header, routes.

import { useEffect, useMemo, useState } from 'react';
import * as api from '../lib/api';
import { LabtailClient, type ConnState } from '../lib/client';
import { isStaff } from '../lib/roles';
import type { Me } from '../lib/types';
import { href, onLink, useRoute } from '../router';
import { ContainerList } from './ContainerList';
import { Dashboard } from './Dashboard';
import { HandNotices, useHands } from './HandNotices';
import { Labs } from './Labs';
import { Login } from './Login';
import { LogViewer } from './LogViewer';
import { useContainers } from './useContainers';

type Theme = 'system' | 'light' | 'dark';

function useTheme(): [Theme, (t: Theme) => void] {
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem('labtail.theme') as Theme) ?? 'system');
  useEffect(() => {
    localStorage.setItem('labtail.theme', theme);
    if (theme === 'system') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = theme;
  }, [theme]);
  return [theme, setTheme];
}

const connLabel: Record<ConnState, string> = {
  connecting: 'Connecting…',
  connected: 'Live',
  reconnecting: 'Reconnecting…',
  unauthenticated: 'Signed out',
};

export function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [expired, setExpired] = useState(false);
  const [theme, setTheme] = useTheme();

  useEffect(() => {
    api.me().then(setMe).catch(() => setMe(null));
  }, []);

  if (me === undefined) return <div className="splash" aria-busy="true">labtail</div>;
  if (me === null) {
    return (
      <Login
        notice={expired ? 'Your session has ended. Please log in again.' : undefined}
        onLogin={(m) => { setExpired(false); setMe(m); }}
      />
    );
  }
  return (
    <Session
      me={me}
      theme={theme}
      setTheme={setTheme}
      onSignedOut={(byServer) => { setExpired(byServer); setMe(null); }}
    />
  );
}

/** Answers to the user's raised hands not yet closed. */
function Answers({ client }: { client: LabtailClient }) {
  useHands(client.hands);
  return <HandNotices hands={client.hands.unreadAnswers()} book={client.hands} />;
}

function Session({ me, theme, setTheme, onSignedOut }: {
  me: Me;
  theme: Theme;
  setTheme: (t: Theme) => void;
  onSignedOut: (byServer: boolean) => void;
}) {
  const client = useMemo(() => new LabtailClient(), []);
  const [conn, setConn] = useState<ConnState>(client.state);
  const route = useRoute();
  const known = useContainers(client);

  useEffect(() => {
    const off = client.onState((s) => {
      setConn(s);
      if (s === 'unauthenticated') onSignedOut(true);
    });
    return () => { off(); client.close(); };
  }, [client, onSignedOut]);

  const logout = async () => {
    client.close();
    await api.logout();
    onSignedOut(false);
  };

  // Admins get every page instructors get.
  const staff = isStaff(me.role);
  const home = staff ? { page: 'dashboard' as const } : { page: 'home' as const };
  let body;
  if (route.page === 'container') {
    // Keyed by the container only: a permalink of the same container moves
    // the view's window, it does not make another view.
    body = <LogViewer key={route.name} client={client} containers={[route.name]} known={known} at={route.at} username={me.username} />;
  } else if (route.page === 'merged' && route.names.length > 0) {
    body = <LogViewer key={route.names.join(',')} client={client} containers={route.names} known={known} username={me.username} />;
  } else if ((route.page === 'dashboard' || route.page === 'home') && staff) {
    body = (
      <Dashboard
        client={client}
        course={route.page === 'dashboard' ? route.course : undefined}
        attention={route.page === 'dashboard' ? route.attention : undefined}
        myCourses={me.courses}
      />
    );
  } else if (route.page === 'labs' && staff) {
    body = <Labs key={route.name ?? ''} name={route.name} client={client} />;
  } else {
    body = <ContainerList client={client} />;
  }

  return (
    <div className="app">
      <header className="topbar">
        <a className="brand" href={href(home)} onClick={onLink(home)}>labtail</a>
        <nav aria-label="Main">
          <a href="/" onClick={onLink({ page: 'home' })}>My containers</a>
          {staff && <a href="/dashboard" onClick={onLink({ page: 'dashboard' })}>Dashboard</a>}
          {staff && <a href="/labs" onClick={onLink({ page: 'labs' })}>Labs</a>}
        </nav>
        <div className="topbar-right">
          <span className={`conn conn-${conn}`} role="status" aria-live="polite" data-testid="connection">
            <span className="dot" aria-hidden />{connLabel[conn]}
          </span>
          <label className="theme">
            <span className="visually-hidden">Theme</span>
            <select value={theme} onChange={(e) => setTheme(e.target.value as Theme)}>
              <option value="system">System theme</option>
              <option value="light">Light</option>
              <option value="dark">Dark</option>
            </select>
          </label>
          <span className="who" data-testid="who">
            <span data-testid="who-name">{me.username}</span> <small data-testid="who-role">({me.role})</small>
            {me.courses.length > 0 && (
              <small className="who-courses muted" data-testid="who-courses" title={`Your courses: ${me.courses.join(', ')}`}>
                · {me.courses.join(', ')}
              </small>
            )}
          </span>
          <button type="button" onClick={logout}>Log out</button>
        </div>
      </header>
      <main>
        {/* Answers to the user's raised hands, on the pages that are not a log (a log shows its own). */}
        {route.page !== 'container' && route.page !== 'merged' && <Answers client={client} />}
        {body}
      </main>
    </div>
  );
}

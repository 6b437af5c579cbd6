// A user's lab containers with their live state; pick one or several.

import { useEffect, useState } from 'react';
import type { LabtailClient } from '../lib/client';
import type { Container } from '../lib/types';
import { href, navigate, onLink } from '../router';

export function StateBadge({ state }: { state: string }) {
  return <span className={`state state-${state}`}>{state}</span>;
}

export function ContainerList({ client }: { client: LabtailClient }) {
  const [containers, setContainers] = useState<Container[] | null>(null);
  const [error, setError] = useState('');
  const [picked, setPicked] = useState<string[]>([]);

  useEffect(() => {
    let live = true;
    const load = () => client.list()
      .then((list) => { if (live) { setContainers(list); setError(''); } })
      .catch((e: Error) => { if (live) setError(e.message); });
    const offState = client.onState((s) => { if (s === 'connected') void load(); });
    const offUpdate = client.onContainerUpdate((u) => {
      setContainers((list) => {
        if (!list) return list;
        if (u.state === 'removed') return list.filter((c) => c.name !== u.name);
        if (!list.some((c) => c.name === u.name)) {
          void load();
          return list;
        }
        return list.map((c) => (c.name === u.name ? { ...c, state: u.state, status: u.state } : c));
      });
    });
    if (client.state === 'connected') void load();
    return () => { live = false; offState(); offUpdate(); };
  }, [client]);

  if (error) return <p className="error" role="alert">Could not list containers: {error}</p>;
  if (!containers) return <p className="muted" aria-busy="true">Loading containers…</p>;
  if (containers.length === 0) {
    return <p className="muted">You have no lab containers yet. They appear here as soon as they are created.</p>;
  }
  const toggle = (name: string) => setPicked((p) => (p.includes(name) ? p.filter((x) => x !== name) : [...p, name]));
  return (
    <section aria-labelledby="containers-title">
      <div className="section-head">
        <h1 id="containers-title">Your containers</h1>
        <button type="button" disabled={picked.length < 2} onClick={() => navigate({ page: 'merged', names: picked })}>
          Merge {picked.length >= 2 ? picked.length : ''} selected
        </button>
      </div>
      <ul className="cards">
        {containers.map((c) => (
          <li key={c.id} className="card">
            <label className="pick">
              <input type="checkbox" checked={picked.includes(c.name)} onChange={() => toggle(c.name)} />
              <span className="visually-hidden">Select {c.name}</span>
            </label>
            <a href={href({ page: 'container', name: c.name })} onClick={onLink({ page: 'container', name: c.name })} className="card-title">
              {c.name}
            </a>
            <StateBadge state={c.state} />
            <span className="muted small">{c.status} · {c.image}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

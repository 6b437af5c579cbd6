// A user's lab containers with their live state; pick one or several.
// Ended and removed ones stay listed (lab history keeps their logs), marked
// with how and when they ended, and open in the viewer like the others.
// A container of a lab with checkpoints shows the student's checklist.

import { useEffect, useState } from 'react';
import { CHECKLIST_REFRESH_MS, checklistsPending } from '../lib/attention';
import type { LabtailClient } from '../lib/client';
import type { Container } from '../lib/types';
import { href, navigate, onLink } from '../router';
import { Checklist } from './Checklist';
import { endedText } from './format';

export function StateBadge({ state }: { state: string }) {
  return <span className={`state state-${state}`}>{state}</span>;
}

/** Whether two IDs (12 digits as lists give them, or longer) are one container's. */
const sameId = (a: string, b: string) => a.slice(0, 12) === b.slice(0, 12);

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
        if (!list.some((c) => sameId(c.id, u.id))) {
          void load();
          return list;
        }
        // A removed one stays, marked: its log is still there to read.
        const endedAt = u.state === 'exited' || u.state === 'removed' ? new Date().toISOString() : undefined;
        return list.map((c) => (sameId(c.id, u.id)
          ? { ...c, state: u.state, status: u.state, exitCode: u.exitCode ?? c.exitCode, endedAt: c.endedAt ?? endedAt }
          : c));
      });
    });
    if (client.state === 'connected') void load();
    return () => { live = false; offState(); offUpdate(); };
  }, [client]);

  // Checkpoints reached meanwhile (nothing pushes them).
  const pending = containers !== null && checklistsPending(containers);
  useEffect(() => {
    if (!pending) return;
    const t = setInterval(() => {
      if (client.state === 'connected') client.list().then(setContainers).catch(() => {});
    }, CHECKLIST_REFRESH_MS);
    return () => clearInterval(t);
  }, [client, pending]);

  if (error) return <p className="error" role="alert">Could not list containers: {error}</p>;
  if (!containers) return <p className="muted" aria-busy="true">Loading containers…</p>;
  if (containers.length === 0) {
    return <p className="muted">You have no lab containers yet. They appear here as soon as they are created.</p>;
  }
  const toggle = (name: string) => setPicked((p) => (p.includes(name) ? p.filter((x) => x !== name) : [...p, name]));
  // A removed container whose name another one has now is opened by its ID.
  const named = (c: Container) => (c.state === 'removed' && containers.some((o) => o !== c && o.name === c.name) ? c.id : c.name);
  return (
    <section aria-labelledby="containers-title">
      <div className="section-head">
        <h1 id="containers-title">Your containers</h1>
        <button type="button" disabled={picked.length < 2} onClick={() => navigate({ page: 'merged', names: picked })}>
          Merge {picked.length >= 2 ? picked.length : ''} selected
        </button>
      </div>
      <ul className="cards">
        {containers.map((c) => {
          const to = { page: 'container' as const, name: named(c) };
          const ended = endedText(c);
          return (
            <li key={c.id} className={`card card-${c.state}`} data-testid={`card-${c.name}`}>
              <label className="pick">
                <input type="checkbox" checked={picked.includes(named(c))} onChange={() => toggle(named(c))} />
                <span className="visually-hidden">Select {c.name}</span>
              </label>
              <a href={href(to)} onClick={onLink(to)} className="card-title">
                {c.name}
              </a>
              <StateBadge state={c.state} />
              <span className="muted small" data-testid="card-status">{ended ?? c.status} · {c.image}</span>
              {c.checkpoints && c.checkpoints.length > 0 && (
                <span className="card-checklist">
                  <Checklist container={named(c)} checkpoints={c.checkpoints} label={c.lab ? `Lab ${c.lab}` : 'Checklist'} />
                </span>
              )}
            </li>
          );
        })}
      </ul>
    </section>
  );
}

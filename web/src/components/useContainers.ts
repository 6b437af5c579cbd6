// The containers this user may see, kept current by pushes: for the
// viewer's header (name, owner, image, state, how it ended) and merged
// views' colours. Removed ones are listed too (lab history keeps them); a
// name used again belongs to the newer container, the older one is found
// by its ID.
import { useEffect, useState } from 'react';
import { CHECKLIST_REFRESH_MS, checklistsPending } from '../lib/attention';
import type { LabtailClient } from '../lib/client';
import type { Container } from '../lib/types';

export interface Containers {
  /** By name: the live container of that name before a removed one. */
  byName: Record<string, Container>;
  /** Every one, as listed (live first, then removed ones, newest first). */
  all: Container[];
}

const empty: Containers = { byName: {}, all: [] };

function index(all: Container[]): Containers {
  const byName: Record<string, Container> = {};
  for (const c of all) {
    const held = byName[c.name];
    if (!held || (held.state === 'removed' && c.state !== 'removed')) byName[c.name] = c;
  }
  return { byName, all };
}

/** Whether `a` (a 12-digit ID as lists give it) and `b` name one container. */
const sameId = (a: string, b: string) => a.slice(0, 12) === b.slice(0, 12);

export function useContainers(client: LabtailClient): Containers {
  const [containers, setContainers] = useState<Containers>(empty);
  useEffect(() => {
    let live = true;
    const load = () => client.list().then((list) => {
      if (live) setContainers(index(list));
    }).catch(() => {});
    const offState = client.onState((s) => { if (s === 'connected') void load(); });
    const offUpdate = client.onContainerUpdate((u) => setContainers((known) => {
      // A container it does not know yet (or another one of a known name):
      // list again for its details.
      if (!known.all.some((c) => sameId(c.id, u.id))) {
        void load();
        return known;
      }
      return index(known.all.map((c) => (sameId(c.id, u.id) ? { ...c, state: u.state, exitCode: u.exitCode ?? c.exitCode } : c)));
    }));
    if (client.state === 'connected') void load();
    return () => { live = false; offState(); offUpdate(); };
  }, [client]);
  // Checklists in progress: read again now and then (no push tells of a
  // checkpoint reached).
  const pending = checklistsPending(containers.all);
  useEffect(() => {
    if (!pending) return;
    const t = setInterval(() => {
      if (client.state === 'connected') client.list().then((list) => setContainers(index(list))).catch(() => {});
    }, CHECKLIST_REFRESH_MS);
    return () => clearInterval(t);
  }, [client, pending]);
  return containers;
}

/** The container a view asked for: by its name, or by an ID (prefix), as
 * the server finds it. */
export function lookup(containers: Containers, name: string): Container | undefined {
  const plain = name.replace(/^\//, '');
  return containers.byName[plain]
    ?? (/^[0-9a-f]{12,64}$/.test(plain) ? containers.all.find((c) => c.id.startsWith(plain.slice(0, 12))) : undefined);
}

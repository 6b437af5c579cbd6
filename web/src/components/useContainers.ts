// The containers this user may see, by name, kept current by pushes: for
// the viewer's header (name, owner, image, state) and merged views' colours.
import { useEffect, useState } from 'react';
import type { LabtailClient } from '../lib/client';
import type { Container } from '../lib/types';

export type Containers = Record<string, Container>;

export function useContainers(client: LabtailClient): Containers {
  const [containers, setContainers] = useState<Containers>({});
  useEffect(() => {
    let live = true;
    const load = () => client.list().then((list) => {
      if (live) setContainers(Object.fromEntries(list.map((c) => [c.name, c])));
    }).catch(() => {});
    const offState = client.onState((s) => { if (s === 'connected') void load(); });
    const offUpdate = client.onContainerUpdate((u) => setContainers((all) => {
      const known = all[u.name];
      // A container it does not know yet: list again for its details.
      if (!known) {
        void load();
        return all;
      }
      return { ...all, [u.name]: { ...known, state: u.state } };
    }));
    if (client.state === 'connected') void load();
    return () => { live = false; offState(); offUpdate(); };
  }, [client]);
  return containers;
}

/** The container a view asked for: by its name, or by an ID (prefix). */
export function lookup(containers: Containers, name: string): Container | undefined {
  const plain = name.replace(/^\//, '');
  return containers[plain]
    ?? (plain.length >= 12 ? Object.values(containers).find((c) => c.id.startsWith(plain.slice(0, 12))) : undefined);
}

export function ownersOf(containers: Containers): Record<string, string | null> {
  return Object.fromEntries(Object.values(containers).map((c) => [c.name, c.owner]));
}

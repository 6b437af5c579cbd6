// Container → owner, for colours in merged views; kept current by pushes.
import { useEffect, useState } from 'react';
import type { LabtailClient } from '../lib/client';

export function useOwners(client: LabtailClient): Record<string, string | null> {
  const [owners, setOwners] = useState<Record<string, string | null>>({});
  useEffect(() => {
    let live = true;
    const load = () => client.list().then((list) => {
      if (live) setOwners(Object.fromEntries(list.map((c) => [c.name, c.owner])));
    }).catch(() => {});
    const offState = client.onState((s) => { if (s === 'connected') void load(); });
    const offUpdate = client.onContainerUpdate((c) => setOwners((o) => ({ ...o, [c.name]: c.owner })));
    if (client.state === 'connected') void load();
    return () => { live = false; offState(); offUpdate(); };
  }, [client]);
  return owners;
}

// Binds a view to its window onto its containers' logs (logwindow.ts): one
// window per set of containers, opened on mount (at a line for a
// permalink), closed on unmount; the view re-renders when it changes (once
// per animation frame at most for live lines).

import { useEffect, useMemo, useRef, useState } from 'react';
import type { LabtailClient } from './client';
import { LogWindow } from './logwindow';

export type { ContainerState } from './logwindow';

export interface LogStream {
  win: LogWindow;
  /** Changes whenever the window changed. */
  version: number;
}

export function useLogStream(
  client: LabtailClient,
  containers: string[],
  owners: Record<string, string | null>,
  maxLines: number,
  tail: number,
  opts: {
    /** A line's cursor: open the window around it (a permalink). */
    at?: string;
    /** The ID of each container where known: history is asked by it, so a
     * removed container whose name was used again is still the one shown. */
    ids?: Record<string, string | undefined>;
  } = {},
): LogStream {
  const key = containers.join('\u0000');
  const ownersRef = useRef(owners);
  ownersRef.current = owners;
  const idsRef = useRef(opts.ids);
  idsRef.current = opts.ids;
  const atRef = useRef(opts.at);
  const win = useMemo(
    () => new LogWindow({
      client,
      containers,
      owners: () => ownersRef.current,
      historyName: (c) => idsRef.current?.[c],
      maxLines,
      tail,
    }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [client, key, maxLines, tail],
  );
  const [version, setVersion] = useState(0);

  useEffect(() => {
    const off = win.subscribe(() => setVersion((v) => v + 1));
    win.open(atRef.current);
    return () => {
      off();
      win.close();
    };
  }, [win]);

  return { win, version };
}

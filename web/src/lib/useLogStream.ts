// Subscribes a view to one or more containers and keeps their lines in a
// bounded, time-ordered buffer, updated once per animation frame.

import { useEffect, useMemo, useRef, useState } from 'react';
import { FrameBatcher } from './batcher';
import type { LabtailClient } from './client';
import { LogBuffer } from './logbuffer';
import type { WireLine } from './types';

export interface ContainerState {
  state: string;
  exitCode?: number | null;
  error?: string;
  /** The server's name for the container (the view may have asked by ID). */
  served?: string;
}

type Item =
  | { kind: 'lines'; container: string; lines: WireLine[] }
  | { kind: 'gap'; container: string; from: string | null; to: string | null; count: number | null }
  | { kind: 'note'; container: string; text: string; tone: 'info' | 'warn' | 'error' };

export interface LogStream {
  buffer: LogBuffer;
  /** Changes whenever the buffer changed (once per frame at most). */
  version: number;
  states: Record<string, ContainerState>;
  /** Starts a container's stream again after a cursor (to fill a gap). */
  refill(container: string, after: string | null): void;
}

const nowTs = () => new Date().toISOString().replace('Z', '000000Z');

export function useLogStream(
  client: LabtailClient,
  containers: string[],
  owners: Record<string, string | null>,
  maxLines: number,
  tail: number,
): LogStream {
  const key = containers.join('\u0000');
  const buffer = useMemo(() => new LogBuffer(maxLines, true), [key, maxLines]);
  const [version, setVersion] = useState(0);
  const [states, setStates] = useState<Record<string, ContainerState>>({});
  const ownersRef = useRef(owners);
  ownersRef.current = owners;
  const unwatch = useRef(new Map<string, () => void>());
  const lastState = useRef(new Map<string, string>());

  const batcher = useMemo(
    () => new FrameBatcher<Item>((items) => {
      for (const it of items) {
        if (it.kind === 'lines') buffer.addLines(it.container, ownersRef.current[it.container] ?? null, it.lines);
        else if (it.kind === 'gap') buffer.addGap(it.container, it, nowTs());
        else buffer.addNote(it.container, it.text, it.tone, nowTs());
      }
      setVersion(buffer.version);
    }),
    [buffer],
  );

  const watch = (name: string, resume: () => string | undefined = () => buffer.lastCursor(name)) => {
    unwatch.current.get(name)?.();
    const stop = client.watch(name, tail, {
      onServed: (served) => setStates((all) => ({ ...all, [name]: { state: 'connecting', ...all[name], served } })),
      onLines: (lines) => batcher.push({ kind: 'lines', container: name, lines }),
      onGap: (g) => batcher.push({ kind: 'gap', container: name, from: g.from, to: g.to, count: g.count }),
      onStatus: (s) => {
        // Notes mark transitions only: a stopped container starting again, the
        // engine going away. The state a (re)subscription starts in is not one.
        const prev = lastState.current.get(name);
        lastState.current.set(name, s.state);
        setStates((all) => ({ ...all, [name]: { ...all[name], state: s.state, exitCode: s.exitCode, error: undefined } }));
        if (s.state === 'running' && prev && prev !== 'running') {
          batcher.push({ kind: 'note', container: name, text: 'container started', tone: 'info' });
        } else if (s.state === 'engine-down' && prev !== 'engine-down') {
          batcher.push({ kind: 'note', container: name, text: 'Docker engine unreachable; reconnecting', tone: 'warn' });
        }
      },
      onEnd: (e) => {
        const text = e.reason === 'exited'
          ? `container exited with code ${e.exitCode ?? '?'}`
          : e.reason === 'removed' ? 'container removed' : `stream ended (${e.reason})`;
        batcher.push({ kind: 'note', container: name, text, tone: e.reason === 'exited' && e.exitCode === 0 ? 'info' : 'error' });
        lastState.current.set(name, e.reason === 'exited' ? 'exited' : e.reason);
        setStates((prev) => ({ ...prev, [name]: { ...prev[name], state: e.reason === 'exited' ? 'exited' : e.reason, exitCode: e.exitCode } }));
      },
      onError: (err) => setStates((prev) => ({ ...prev, [name]: { ...prev[name], state: 'error', error: err.message } })),
      resumeFrom: resume,
    });
    unwatch.current.set(name, stop);
  };

  useEffect(() => {
    setStates({});
    for (const name of containers) watch(name);
    const current = unwatch.current;
    return () => {
      for (const stop of current.values()) stop();
      current.clear();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, buffer]);

  const refill = (container: string, after: string | null) => {
    // Start again after the gap's first cursor: labtail resends from there,
    // the buffer drops what it already has and puts the rest in order. Later
    // reconnects resume from the newest line as usual.
    let first = true;
    watch(container, () => {
      if (first) {
        first = false;
        return after ?? undefined;
      }
      return buffer.lastCursor(container);
    });
  };

  return { buffer, version, states, refill };
}

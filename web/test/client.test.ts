import { describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import { LabtailClient, type WatchHandlers } from '../src/lib/client';
import type { WireLine } from '../src/lib/types';

/** Just enough of a socket.io-client socket: handlers by event, emits recorded,
 * acks answered by `answer`. */
function fakeSocket(answer: (event: string, payload: Record<string, unknown>) => unknown) {
  const handlers = new Map<string, ((...a: unknown[]) => void)[]>();
  const emitted: [string, Record<string, unknown>][] = [];
  const socket = {
    connected: true,
    on(ev: string, f: (...a: unknown[]) => void) { handlers.set(ev, [...(handlers.get(ev) ?? []), f]); return socket; },
    timeout() {
      return {
        emit(ev: string, payload: Record<string, unknown>, cb: (err: Error | null, ack: unknown) => void) {
          emitted.push([ev, payload]);
          cb(null, answer(ev, payload));
        },
        async emitWithAck(ev: string, payload: Record<string, unknown>) {
          emitted.push([ev, payload]);
          return answer(ev, payload);
        },
      };
    },
    disconnect() {},
    connect() {},
  };
  const fire = (ev: string, ...args: unknown[]) => { for (const f of handlers.get(ev) ?? []) f(...args); };
  return { socket: socket as unknown as Socket, emitted, fire };
}

const line = (text: string): WireLine => ({ cursor: '1795388680123456789-o000000', ts: '2026-11-22T23:04:40.123456789Z', stream: 'stdout', text });

describe('LabtailClient', () => {
  it('follows a watched container through a rename', async () => {
    const { socket, emitted, fire } = fakeSocket((ev, p) => ({ ok: true, containerName: p.containerName, state: 'running', ...(ev === 'stop-container-logs' ? { wasWatching: true } : {}) }));
    const client = new LabtailClient(undefined, socket);
    const got: string[] = [];
    const served: string[] = [];
    const renames: string[] = [];
    const handlers: WatchHandlers = {
      onServed: (n) => served.push(n),
      onLines: (lines) => got.push(...lines.map((l) => l.text)),
      onGap: () => {}, onStatus: () => {}, onEnd: () => {}, onError: () => {},
      onRenamed: (a, b) => renames.push(`${a}→${b}`),
      resumeFrom: () => (got.length ? '1795388680123456789-o000000' : undefined),
    };
    const stop = client.watch('web', 100, handlers);
    expect(emitted[0]).toEqual(['start-container-logs', { containerName: 'web', tail: 100 }]);
    fire('container-log', { containerName: 'web', log: '', lines: [line('before')] });
    fire('container-renamed', { containerName: 'web', newName: 'web-old' });
    fire('container-log', { containerName: 'web-old', log: '', lines: [line('after')] });
    // Events for the old name are another container's now.
    fire('container-log', { containerName: 'web', log: '', lines: [line('someone else')] });
    expect(got).toEqual(['before', 'after']);
    expect(served).toEqual(['web', 'web-old']);
    expect(renames).toEqual(['web→web-old']);
    // A reconnect starts it again by its new name, after the last line.
    fire('connect');
    expect(emitted.at(-1)).toEqual(['start-container-logs', { containerName: 'web-old', after: '1795388680123456789-o000000' }]);
    stop();
    expect(emitted.at(-1)).toEqual(['stop-container-logs', { containerName: 'web-old' }]);
  });

  it('a revoked watch is over: it is not started again on a reconnect, nor stopped', () => {
    const { socket, emitted, fire } = fakeSocket((ev, p) => ({ ok: true, containerName: p.containerName, state: 'running', ...(ev === 'stop-container-logs' ? { wasWatching: true } : {}) }));
    const client = new LabtailClient(undefined, socket);
    const ends: string[] = [];
    const got: string[] = [];
    const handlers = (name: string): WatchHandlers => ({
      onLines: (lines) => got.push(...lines.map((l) => `${name}: ${l.text}`)),
      onGap: () => {}, onStatus: () => {}, onError: () => {},
      onEnd: (e) => ends.push(`${e.containerName} ${e.reason}`),
      resumeFrom: () => undefined,
    });
    const stopGone = client.watch('amy-lab', 100, handlers('amy-lab'));
    client.watch('ben-lab', 100, handlers('ben-lab'));
    fire('container-log', { containerName: 'amy-lab', log: '', lines: [line('last')] });
    fire('container-log-end', { containerName: 'amy-lab', reason: 'revoked' });
    expect(ends).toEqual(['amy-lab revoked']);
    // Nothing of it is routed any more.
    fire('container-log', { containerName: 'amy-lab', log: '', lines: [line('late')] });
    expect(got).toEqual(['amy-lab: last']);
    // A reconnect starts the other watch only.
    emitted.length = 0;
    fire('connect');
    expect(emitted).toEqual([['start-container-logs', { containerName: 'ben-lab', tail: 100 }]]);
    // The server ended it already: the view's stop sends nothing.
    emitted.length = 0;
    stopGone();
    expect(emitted).toEqual([]);
  });

  it('other ends keep the watch, to resume on a reconnect', () => {
    const { socket, emitted, fire } = fakeSocket((_ev, p) => ({ ok: true, containerName: p.containerName, state: 'running' }));
    const client = new LabtailClient(undefined, socket);
    client.watch('web', 100, {
      onLines: () => {}, onGap: () => {}, onStatus: () => {}, onError: () => {}, onEnd: () => {},
      resumeFrom: () => '1795388680123456789-o000000',
    });
    fire('container-log-end', { containerName: 'web', reason: 'exited', exitCode: 0 });
    emitted.length = 0;
    fire('connect');
    expect(emitted).toEqual([['start-container-logs', { containerName: 'web', after: '1795388680123456789-o000000' }]]);
  });

  it('speaks attention\'s events, and keeps every answer to the user\'s hands', async () => {
    const { socket, emitted, fire } = fakeSocket((ev, p) => {
      if (ev === 'raise-hand') return p.message === 'no' ? { ok: false, error: { code: 'invalid_payload', message: 'no such line' } } : { ok: true, id: 42 };
      if (ev === 'ack-attention' && p.id === 9) return { ok: false, error: { code: 'forbidden_or_missing', message: 'no such entry' } };
      return { ok: true };
    });
    const client = new LabtailClient(undefined, socket);
    const ack = await client.raiseHand('amy-1', '1795388680123456789-o000004', 'why does it stop?', 'step 4');
    expect(ack).toEqual({ ok: true, id: 42 });
    expect(emitted.at(-1)).toEqual(['raise-hand', { containerName: 'amy-1', cursor: '1795388680123456789-o000004', message: 'why does it stop?' }]);
    expect(client.hands.forView(['amy-1']).map((h) => [h.id, h.lineText, h.answers.length])).toEqual([[42, 'step 4', 0]]);
    // A refused hand is not kept.
    expect((await client.raiseHand('amy-1', 'x', 'no')).ok).toBe(false);
    expect(client.hands.forView(['amy-1']).length).toBe(1);
    fire('hand-answer', { id: 42, containerName: 'amy-1', message: 'On my way', from: 'tea' });
    expect(client.hands.get(42)?.answers).toEqual([{ id: 42, containerName: 'amy-1', message: 'On my way', from: 'tea' }]);

    expect(await client.ackAttention(3)).toEqual({ ok: true });
    expect(await client.ackAttention(9)).toEqual({ ok: false, error: { code: 'forbidden_or_missing', message: 'no such entry' } });
    await client.dismissAttention(4);
    await client.answerHand(42, 'look at line 3');
    expect(emitted.slice(-4)).toEqual([
      ['ack-attention', { id: 3 }], ['ack-attention', { id: 9 }], ['dismiss-attention', { id: 4 }],
      ['answer-hand', { id: 42, message: 'look at line 3' }],
    ]);
  });
});

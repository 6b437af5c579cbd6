import { describe, expect, it } from 'vitest';
import { ApiError } from '../src/lib/api';
import type { WatchHandlers } from '../src/lib/client';
import { nanosToTs } from '../src/lib/cursor';
import type { Anchor } from '../src/lib/history';
import { LogWindow, REVOKED_MERGED_TEXT, REVOKED_TEXT } from '../src/lib/logwindow';
import type { HistoryPage, WireLine } from '../src/lib/types';

const BASE = 1795341600000000000n;
const line = (n: number): WireLine => ({
  cursor: `${BASE + BigInt(n) * 1000n}-o000000`,
  ts: nanosToTs(BASE + BigInt(n) * 1000n),
  stream: 'stdout',
  text: `line ${n}`,
});

/** A container's recorded history, served as labtail's pages are; `recorded`
 * of its lines when the view opened (what a tail page ends with). */
function history(total: number, recorded = total) {
  const lines = Array.from({ length: total }, (_, i) => line(i + 1));
  const asked: string[] = [];
  const fetchPage = async (_c: string, anchor: Anchor, limit: number): Promise<HistoryPage> => {
    asked.push(JSON.stringify(anchor));
    const find = (cur: string) => {
      const n = lines.findIndex((l) => l.cursor === cur);
      if (n < 0) throw new ApiError(404, 'forbidden_or_missing', 'no such line');
      return n;
    };
    let from: number;
    if ('before' in anchor) from = find(anchor.before) - limit;
    else if ('after' in anchor) from = find(anchor.after) + 1;
    else if ('around' in anchor) from = find(anchor.around) - Math.floor(limit / 2);
    else if ('head' in anchor) from = 0;
    else if ('from' in anchor) from = lines.findIndex((l) => l.ts >= anchor.from);
    else from = recorded - limit;
    const to = Math.min('tail' in anchor ? recorded : lines.length, Math.max(0, from) + limit + Math.min(0, from));
    from = Math.max(0, from);
    return { containerName: 'c', lines: lines.slice(from, to), events: [], moreBefore: from > 0, moreAfter: to < lines.length, pruned: 0, total: lines.length };
  };
  return { lines, fetchPage, asked };
}

/** A client whose watches the test drives. */
function fakeClient() {
  const watches: { name: string; handlers: WatchHandlers; stopped: boolean; after: string | undefined }[] = [];
  return {
    watches,
    active: () => watches.filter((w) => !w.stopped),
    watch(name: string, _tail: number, handlers: WatchHandlers) {
      const w = { name, handlers, stopped: false, after: handlers.resumeFrom() };
      watches.push(w);
      return () => { w.stopped = true; };
    },
  };
}

/** Runs batches at once, as if every frame came right away. */
const now = (cb: () => void) => cb();
const texts = (win: LogWindow) => win.buffer.toArray().filter((r) => r.kind === 'line').map((r) => (r.kind === 'line' ? r.line.text : ''));

function setup(total: number, maxLines = 2000, tail = 1000, recorded = total) {
  const h = history(total, recorded);
  const client = fakeClient();
  const win = new LogWindow({ client, containers: ['c'], owners: () => ({}), maxLines, tail, fetchPage: h.fetchPage, schedule: now });
  return { h, client, win };
}

describe('LogWindow', () => {
  it('opens on the newest lines history holds, then follows live from right after them', async () => {
    const { client, win } = setup(5000);
    await win.goLive();
    expect(win.buffer.lines).toBe(1000);
    expect(texts(win)[0]).toBe('line 4001');
    expect(win.live).toBe(true);
    expect(client.active().map((w) => w.after)).toEqual([line(5000).cursor]);
    client.active()[0]!.handlers.onLines([line(5001)]);
    expect(texts(win).at(-1)).toBe('line 5001');
    expect(win.moreBefore).toBe(true);
  });

  it('loads older pages in front, in order, and stays live while they fit', async () => {
    const { client, win } = setup(5000);
    await win.goLive();
    await win.loadOlder();
    expect(win.buffer.lines).toBe(1500);
    expect(texts(win).slice(0, 2)).toEqual(['line 3501', 'line 3502']);
    expect(texts(win)).toEqual(Array.from({ length: 1500 }, (_, i) => `line ${3501 + i}`));
    expect(win.live).toBe(true);
    expect(client.active().length).toBe(1);
  });

  it('past the bound the newest lines give way and the window stops being live', async () => {
    const { client, win } = setup(5000);
    await win.goLive();
    for (let i = 0; i < 4; i++) await win.loadOlder();
    expect(win.buffer.lines).toBe(2000);
    expect(texts(win)[0]).toBe('line 2001');
    expect(texts(win).at(-1)).toBe('line 4000');
    expect(win.live).toBe(false);
    expect(client.active().length).toBe(0);
    // A live line sent before the watch stopped is not spliced in past the hole.
    client.watches[0]!.handlers.onLines([line(5001)]);
    expect(texts(win).at(-1)).toBe('line 4000');
    // Down to the start: it is marked, and nothing more is asked for.
    for (let i = 0; i < 10; i++) await win.loadOlder();
    expect(texts(win)[0]).toBe('line 1');
    expect(win.moreBefore).toBe(false);
    expect(win.buffer.toArray()[0]).toMatchObject({ kind: 'note', text: 'Start of the log' });
    // The bound counts rows: the start marker is one.
    expect(win.buffer.length).toBe(2000);
  });

  it('paging forward to the recorded end makes it live again, with no gap', async () => {
    const { client, win } = setup(3000);
    await win.goLive();
    for (let i = 0; i < 4; i++) await win.loadOlder();
    expect(win.live).toBe(false);
    while (!win.live) await win.loadNewer();
    expect(texts(win).at(-1)).toBe('line 3000');
    expect(win.buffer.lines).toBeLessThanOrEqual(2000);
    expect(client.active().map((w) => w.after)).toEqual([line(3000).cursor]);
  });

  it('a permalink opens the window around its line, highlighted', async () => {
    const { client, win } = setup(5000);
    await win.openAt(line(1234).cursor);
    expect(texts(win)).toContain('line 1234');
    expect(win.highlight).toBe(`c\u0000${line(1234).cursor}`);
    expect(win.focus?.key).toBe(win.highlight);
    expect(win.live).toBe(false);
    expect(client.active().length).toBe(0);
    // Near the end: the window reaches the live end and follows it.
    await win.openAt(line(4900).cursor);
    expect(win.live).toBe(true);
    expect(client.active().map((w) => w.after)).toEqual([line(5000).cursor]);
  });

  it('a jump to a time shows the lines from then on', async () => {
    const { win } = setup(5000);
    await win.jumpTo(line(2500).ts);
    expect(texts(win)[0]).toBe('line 2500');
    expect(win.focus?.edge).toBe('top');
    expect(win.live).toBe(false);
  });

  it('loads a gap\'s lines from history, where they belong', async () => {
    // The view opened when 5000 lines were recorded; it then fell behind.
    const { client, win } = setup(6000, 50_000, 1000, 5000);
    await win.goLive();
    const w = client.active()[0]!;
    w.handlers.onGap({ containerName: 'c', from: line(5000).cursor, to: line(5600).cursor, count: 599 });
    w.handlers.onLines([line(5600)]);
    const gap = () => win.buffer.toArray().find((r) => r.kind === 'gap') as (ReturnType<typeof win.buffer.toArray>[number] & { kind: 'gap' }) | undefined;
    expect(win.buffer.toArray().map((r) => r.kind).slice(-3)).toEqual(['line', 'gap', 'line']);
    await win.fillGap(gap()!);
    expect(gap()).toBeUndefined();
    expect(texts(win)).toEqual(Array.from({ length: 1600 }, (_, i) => `line ${4001 + i}`));
    // It did not start the stream again.
    expect(client.watches.length).toBe(1);
  });

  it('a gap history does not hold (yet) is filled by the stream, as before', async () => {
    const { client, win } = setup(5000, 50_000);
    await win.goLive();
    const w = client.active()[0]!;
    w.handlers.onGap({ containerName: 'c', from: line(5000).cursor, to: line(5600).cursor, count: 599 });
    w.handlers.onLines([line(5600)]);
    await win.fillGap(win.buffer.toArray().find((r) => r.kind === 'gap') as never);
    expect(client.active().map((x) => x.after)).toEqual([line(5000).cursor]);
  });

  it('a merged window opens on the span both containers cover, and each resumes where history left it', async () => {
    // a wrote long ago; b writes now: a's lines all come before b's page.
    const a = history(300);
    const b = history(3000);
    const late = (l: WireLine): WireLine => ({ ...l, cursor: `${BigInt(l.cursor.slice(0, 19)) + 10n ** 12n}-o000000`, ts: nanosToTs(BigInt(l.cursor.slice(0, 19)) + 10n ** 12n) });
    const client = fakeClient();
    const win = new LogWindow({
      client, containers: ['a', 'b'], owners: () => ({}), maxLines: 50_000, tail: 1000, schedule: now,
      fetchPage: async (c, anchor, limit) => {
        if (c === 'a') return a.fetchPage(c, anchor, limit);
        const p = await b.fetchPage(c, anchor, limit);
        return { ...p, lines: p.lines.map(late) };
      },
    });
    await win.goLive();
    expect(win.buffer.toArray().every((r) => r.container === 'b')).toBe(true);
    expect(win.buffer.lines).toBe(1000);
    // a resumes after its newest line (nothing to send), not from its tail.
    expect(client.active().map((w) => [w.name, w.after])).toEqual([['a', line(300).cursor], ['b', late(line(3000)).cursor]]);
  });

  it('without history (503) it follows the live tail as before', async () => {
    const client = fakeClient();
    const win = new LogWindow({
      client, containers: ['c'], owners: () => ({}), maxLines: 100, tail: 100, schedule: now,
      fetchPage: async () => { throw new ApiError(503, 'unavailable', 'lab history is off'); },
    });
    await win.goLive();
    expect(win.history).toBe(false);
    expect(win.historyOf.c).toBe('no');
    expect(client.active().map((w) => w.after)).toEqual([undefined]);
    expect(win.moreBefore).toBe(false);
  });

  it('a revoked container ends its view: a final notice, its lines kept, nothing asked again', async () => {
    const { h, client, win } = setup(5000);
    await win.goLive();
    const w = client.active()[0]!;
    w.handlers.onLines([line(5001)]);
    w.handlers.onEnd({ containerName: 'c', reason: 'revoked' });
    expect(win.revoked).toEqual(['c']);
    expect(win.ended).toBe(true);
    expect(win.live).toBe(false);
    expect(win.states.c?.state).toBe('revoked');
    expect(client.active().length).toBe(0);
    const rows = win.buffer.toArray();
    expect(rows.at(-1)).toMatchObject({ kind: 'note', text: REVOKED_TEXT, tone: 'error' });
    expect(texts(win).at(-1)).toBe('line 5001');
    expect(win.buffer.lines).toBe(1001);
    // Neither the live end nor history is asked for again.
    const asked = h.asked.length;
    await win.goLive();
    await win.loadOlder();
    await win.loadNewer();
    await win.jumpTo(line(10).ts);
    await win.openAt(line(10).cursor);
    expect(h.asked.length).toBe(asked);
    expect(client.watches.length).toBe(1);
    expect(win.buffer.lines).toBe(1001);
    expect(win.moreBefore).toBe(false);
    expect(win.history).toBe(false);
  });

  it('a merged view drops a revoked container and goes on with the others', async () => {
    const a = history(300);
    const b = history(300);
    const client = fakeClient();
    const asked: string[] = [];
    const win = new LogWindow({
      client, containers: ['a', 'b'], owners: () => ({}), maxLines: 50_000, tail: 100, schedule: now,
      fetchPage: async (c, anchor, limit) => {
        asked.push(c);
        return (c === 'a' ? a : b).fetchPage(c, anchor, limit);
      },
    });
    await win.goLive();
    expect(win.buffer.toArray().some((r) => r.container === 'a')).toBe(true);
    const wa = client.active().find((w) => w.name === 'a')!;
    wa.handlers.onEnd({ containerName: 'a', reason: 'revoked' });
    // Its rows go; its notice stays, beside its name.
    const rows = win.buffer.toArray();
    expect(rows.filter((r) => r.container === 'a').map((r) => r.kind === 'note' && r.text)).toEqual([REVOKED_MERGED_TEXT]);
    expect(win.buffer.lines).toBe(100);
    expect(win.ended).toBe(false);
    expect(win.live).toBe(true);
    expect(win.active).toEqual(['b']);
    expect(client.active().map((w) => w.name)).toEqual(['b']);
    // b goes on; back to the latest asks b only.
    client.active()[0]!.handlers.onLines([line(301)]);
    expect(win.buffer.lines).toBe(101);
    asked.length = 0;
    await win.goLive();
    expect(asked).toEqual(['b']);
    expect(client.active().map((w) => w.name)).toEqual(['b']);
    expect(win.buffer.toArray().every((r) => r.container === 'b')).toBe(true);
  });
});


import { describe, expect, it } from 'vitest';
import { LogBuffer, compareRows, gapPlace } from '../src/lib/logbuffer';
import { nanosToTs } from '../src/lib/cursor';
import type { WireLine } from '../src/lib/types';

// A line whose cursor and ts name the same moment, as labtail's do: `ts`
// nanoseconds after 2026-11-22T10:00:00Z.
const BASE = 1795341600000000000n;
const line = (n: number, ts = n, stream: WireLine['stream'] = 'stdout'): WireLine => ({
  cursor: `${BASE + BigInt(ts)}-${stream[0]}${String(n % 7).padStart(6, '0')}`,
  ts: nanosToTs(BASE + BigInt(ts)),
  stream,
  text: String(n),
});
const lines = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => line(a + i));
const texts = (b: LogBuffer) => b.toArray().map((r) => (r.kind === 'line' ? r.line.text : `[${r.kind === 'note' ? r.text : r.kind}]`));

describe('LogBuffer', () => {
  it('is bounded and counts what it evicted', () => {
    const b = new LogBuffer(5);
    b.addLines('c', null, [1, 2, 3, 4, 5, 6, 7].map((n) => line(n)));
    expect(texts(b)).toEqual(['3', '4', '5', '6', '7']);
    expect(b.dropped).toBe(2);
    b.addLines('c', null, [line(8)]);
    expect(b.length).toBe(5);
    expect(b.dropped).toBe(3);
  });

  it('ignores a line it already has (same container and cursor)', () => {
    const b = new LogBuffer(100);
    expect(b.addLines('c', null, [line(1), line(2)])).toBe(2);
    expect(b.addLines('c', null, [line(2), line(3)])).toBe(1);
    expect(texts(b)).toEqual(['1', '2', '3']);
    // The same cursor in another container is another line.
    expect(b.addLines('d', null, [line(1)])).toBe(1);
  });

  it('forgets cursors it evicted, so memory stays bounded', () => {
    const b = new LogBuffer(3);
    for (let n = 1; n <= 1000; n++) b.addLines('c', null, [line(n)]);
    expect(b.length).toBe(3);
    expect((b as unknown as { seen: Map<string, Set<string>> }).seen.get('c')!.size).toBe(3);
  });

  it('merges containers in timestamp order whatever order batches arrive in', () => {
    const b = new LogBuffer(100, true);
    // Container a's lines at even times, b's at odd times; b's batch is late.
    b.addLines('a', 'amy', [line(2, 2), line(4, 4), line(6, 6)]);
    b.addLines('b', 'bob', [line(1, 1), line(3, 3), line(5, 5), line(7, 7)]);
    expect(texts(b)).toEqual(['1', '2', '3', '4', '5', '6', '7']);
    const rows = b.toArray();
    for (let i = 1; i < rows.length; i++) expect(compareRows(rows[i - 1]!, rows[i]!)).toBeLessThan(0);
    expect(rows.map((r) => r.container).join('')).toBe('babababa'.slice(0, 7));
  });

  it('orders equal timestamps by container, then cursor', () => {
    const b = new LogBuffer(10, true);
    b.addLines('z', null, [line(1, 5)]);
    b.addLines('a', null, [line(2, 5)]);
    expect(b.toArray().map((r) => r.container)).toEqual(['a', 'z']);
  });

  it('keeps gaps and notes as rows, in place', () => {
    const b = new LogBuffer(10);
    b.addLines('c', null, [line(1)]);
    b.addGap('c', { from: line(1).cursor, to: line(9).cursor, count: 7 }, 'unused');
    b.addLines('c', null, [line(9)]);
    expect(texts(b)).toEqual(['1', '[gap]', '9']);
    expect(b.lastCursor('c')).toBe(line(9).cursor);
    expect(b.firstCursor('c')).toBe(line(1).cursor);
    expect(b.lastCursor('other')).toBeUndefined();
  });
});

describe('gaps stay where their lines would have been', () => {
  it('takes the time of the line after it (or before it) from its cursor', () => {
    expect(gapPlace({ from: line(1).cursor, to: line(9).cursor, count: 7 }, 'now'))
      .toEqual({ ts: line(9).ts, at: line(9).cursor, rank: -1 });
    expect(gapPlace({ from: line(1).cursor, to: null, count: 7 }, 'now'))
      .toEqual({ ts: line(1).ts, at: line(1).cursor, rank: 1 });
    expect(gapPlace({ from: null, to: null, count: null }, 'now')).toEqual({ ts: 'now', at: '', rank: 0 });
  });

  it('sorts between the lines it separates, even when it arrives after both', () => {
    const b = new LogBuffer(100, true);
    b.addLines('c', null, [line(1), line(2), line(9), line(10)]);
    b.addGap('c', { from: line(2).cursor, to: line(9).cursor, count: 6 }, nanosToTs(BASE + 1000n));
    expect(texts(b)).toEqual(['1', '2', '[gap]', '9', '10']);
    // Known end only at the front: still after the line it follows.
    b.addGap('c', { from: line(10).cursor, to: null, count: 3 }, nanosToTs(BASE + 1000n));
    expect(texts(b)).toEqual(['1', '2', '[gap]', '9', '10', '[gap]']);
  });

  it('is not evicted at once by a full buffer (a gap stamped "" sorted first and went first)', () => {
    const b = new LogBuffer(5, true);
    b.addLines('c', null, lines(1, 5));
    b.addGap('c', { from: line(5).cursor, to: line(20).cursor, count: 14 }, 'x');
    b.addLines('c', null, [line(20)]);
    expect(texts(b)).toEqual(['3', '4', '5', '[gap]', '20']);
  });

  it('shrinks as its lines are loaded, and goes when they all are', () => {
    const b = new LogBuffer(100, true);
    b.addLines('c', null, [line(1), line(9)]);
    b.addGap('c', { from: line(1).cursor, to: line(9).cursor, count: 7 }, 'x');
    const key = b.toArray().find((r) => r.kind === 'gap')!.key;
    b.addPage('c', null, lines(2, 4), [], 'oldest');
    b.updateGap(key, { from: line(4).cursor, to: line(9).cursor, count: 4 });
    expect(texts(b)).toEqual(['1', '2', '3', '4', '[gap]', '9']);
    const gap = b.toArray().find((r) => r.kind === 'gap')!;
    expect(gap.kind === 'gap' && gap.count).toBe(4);
    b.addPage('c', null, lines(5, 8), [], 'oldest');
    b.updateGap(gap.key, null);
    expect(texts(b)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });
});

describe('history pages', () => {
  it('prepends an older page in order, and the newest rows give way past the bound', () => {
    const b = new LogBuffer(10, true);
    b.addLines('c', null, lines(91, 100));
    expect(b.addPage('c', null, lines(86, 90), [], 'newest')).toBe(5);
    expect(texts(b)).toEqual(['86', '87', '88', '89', '90', '91', '92', '93', '94', '95']);
    expect(b.droppedNewer).toBe(5);
    expect(b.dropped).toBe(0);
    expect(b.lastCursor('c')).toBe(line(95).cursor);
    // Evicted lines are forgotten: loading them again adds them again.
    expect(b.has('c', line(100).cursor)).toBe(false);
    expect(b.addPage('c', null, lines(96, 100), [], 'oldest')).toBe(5);
    expect(texts(b)).toEqual(['91', '92', '93', '94', '95', '96', '97', '98', '99', '100']);
    expect(b.droppedNewer).toBe(0);
    expect(b.dropped).toBe(5);
  });

  it('ignores what it already holds of an overlapping page', () => {
    const b = new LogBuffer(100, true);
    b.addLines('c', null, lines(5, 10));
    expect(b.addPage('c', null, lines(1, 7), [], 'newest')).toBe(4);
    expect(texts(b)).toEqual(lines(1, 10).map((l) => l.text));
    expect(b.lines).toBe(10);
  });

  it('a live line after an older page still goes at the newest end, and the oldest give way', () => {
    const b = new LogBuffer(6, true);
    b.addLines('c', null, lines(4, 6));
    b.addPage('c', null, lines(1, 3), [], 'newest');
    b.addLines('c', null, [line(7)]);
    expect(texts(b)).toEqual(['2', '3', '4', '5', '6', '7']);
  });

  it('places markers before or after their line, once', () => {
    const b = new LogBuffer(100, true);
    const started = { key: 'ev:started:1', place: { ts: line(1).ts, at: line(1).cursor, rank: -1 as const }, text: 'container started', tone: 'info' as const };
    const exited = { key: 'ev:exited:2', place: { ts: line(3).ts, at: line(3).cursor, rank: 1 as const }, text: 'container exited with code 3', tone: 'error' as const };
    b.addPage('c', null, lines(1, 3), [exited, started], 'newest');
    expect(texts(b)).toEqual(['[container started]', '1', '2', '3', '[container exited with code 3]']);
    b.addPage('c', null, lines(1, 3), [exited, started], 'newest');
    expect(b.length).toBe(5);
    // The stream telling the same end again adds nothing; another does.
    b.addNote('c', 'container exited with code 3', 'error', line(4).ts, true);
    expect(b.length).toBe(5);
    b.addNote('c', 'container removed', 'error', line(4).ts, true);
    expect(texts(b).at(-1)).toBe('[container removed]');
  });

  it('merges a page of one container among another container\'s lines', () => {
    const b = new LogBuffer(100, true);
    b.addLines('a', null, [line(2, 2), line(4, 4), line(6, 6)]);
    b.addPage('b', null, [line(1, 1), line(3, 3), line(5, 5)], [], 'newest');
    expect(texts(b)).toEqual(['1', '2', '3', '4', '5', '6']);
  });

  it('reset empties it for another window', () => {
    const b = new LogBuffer(3, true);
    b.addLines('c', null, lines(1, 5));
    b.reset();
    expect([b.length, b.lines, b.dropped, b.droppedNewer]).toEqual([0, 0, 0, 0]);
    expect(b.addLines('c', null, [line(5)])).toBe(1);
  });

  it('forgets one container\'s rows, and can take them again', () => {
    const b = new LogBuffer(100, true);
    b.addLines('a', null, [line(1, 10), line(3, 30)]);
    b.addLines('b', null, [line(2, 20), line(4, 40)]);
    b.addNote('a', 'a note', 'info', nanosToTs(BASE + 35n));
    b.removeContainer('a');
    expect(texts(b)).toEqual(['2', '4']);
    expect(b.lines).toBe(2);
    expect(b.has('a', line(1, 10).cursor)).toBe(false);
    expect(b.lastCursor('a')).toBeUndefined();
    expect(b.addLines('a', null, [line(1, 10)])).toBe(1);
    expect(texts(b)).toEqual(['1', '2', '4']);
  });
});


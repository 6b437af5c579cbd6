import { describe, expect, it } from 'vitest';
import { LogBuffer, compareRows } from '../src/lib/logbuffer';
import type { WireLine } from '../src/lib/types';

const line = (n: number, ts = n, stream: WireLine['stream'] = 'stdout'): WireLine => ({
  cursor: `${String(ts).padStart(19, '0')}-${String(n % 7).padStart(6, '0')}`,
  ts: `2026-11-22T10:00:00.${String(ts).padStart(9, '0')}Z`,
  stream,
  text: String(n),
});
const texts = (b: LogBuffer) => b.toArray().map((r) => (r.kind === 'line' ? r.line.text : `[${r.kind}]`));

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
    b.addGap('c', { from: line(1).cursor, to: line(9).cursor, count: 7 }, line(9).ts);
    b.addLines('c', null, [line(9)]);
    expect(texts(b)).toEqual(['1', '[gap]', '9']);
    expect(b.lastCursor('c')).toBe(line(9).cursor);
    expect(b.lastCursor('other')).toBeUndefined();
  });
});

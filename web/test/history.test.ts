import { describe, expect, it } from 'vitest';
import { contiguous, eventPlace, exportUrl, pageNotes, pageUrl } from '../src/lib/history';
import { LogBuffer } from '../src/lib/logbuffer';
import { nanosToTs } from '../src/lib/cursor';
import type { HistoryPage, WireLine } from '../src/lib/types';

const BASE = 1795341600000000000n;
const line = (n: number, ts = n): WireLine => ({
  cursor: `${BASE + BigInt(ts) * 1000n}-o000000`,
  ts: nanosToTs(BASE + BigInt(ts) * 1000n),
  stream: 'stdout',
  text: `line ${n}`,
});
const page = (lines: WireLine[], more: Partial<HistoryPage> = {}): HistoryPage => ({
  containerName: 'c', lines, events: [], moreBefore: true, moreAfter: true, pruned: 0, total: 100, ...more,
});
const range = (a: number, b: number, step = 1) => Array.from({ length: Math.floor((b - a) / step) + 1 }, (_, i) => line(a + i * step));

describe('history requests', () => {
  it('names the page it wants; cursors and names are escaped', () => {
    expect(pageUrl('alice-lab1', { before: '1795341600000000001-o000000' }))
      .toBe('/api/history/alice-lab1/lines?before=1795341600000000001-o000000&limit=500');
    expect(pageUrl('lab2/web', { tail: true }, 1)).toBe('/api/history/lab2%2Fweb/lines?limit=1');
    expect(pageUrl('c', { head: true })).toBe('/api/history/c/lines?head=true&limit=500');
    expect(pageUrl('c', { from: '2026-11-22T10:00:00.000Z' })).toBe('/api/history/c/lines?from=2026-11-22T10%3A00%3A00.000Z&limit=500');
    expect(exportUrl()).toBe('/api/history/export');
    expect(exportUrl({ owner: 'amy' })).toBe('/api/history/export?owner=amy');
    expect(exportUrl({ container: 'lab2/web' })).toBe('/api/history/export?container=lab2%2Fweb');
  });
});

describe('a page in the buffer', () => {
  it('shows lifecycle events where they happened', () => {
    const p = page(range(1, 4), {
      moreBefore: false,
      moreAfter: false,
      events: [
        { at: '2026-11-22T10:00:00Z', kind: 'started', before: line(1).cursor },
        { at: '2026-11-22T10:00:01Z', kind: 'exited', before: line(3).cursor, exitCode: 3 },
        { at: '2026-11-22T10:00:02Z', kind: 'started', before: line(3).cursor },
        { at: '2026-11-22T10:00:09Z', kind: 'exited', before: null, exitCode: 0 },
        { at: '2026-11-22T10:00:10Z', kind: 'removed', before: null },
      ],
    });
    const b = new LogBuffer(100, true);
    b.addPage('c', null, p.lines, pageNotes('c', p), 'newest');
    const shown = b.toArray().map((r) => (r.kind === 'line' ? r.line.text : `[${r.kind === 'note' ? r.text : r.kind}]`));
    expect(shown).toEqual([
      '[Start of the log]', '[container started]', 'line 1', 'line 2',
      '[container exited with code 3]', '[container started]', 'line 3', 'line 4',
      '[container exited with code 0]', '[container removed]',
    ]);
  });

  it('says how many lines retention dropped before the start', () => {
    const notes = pageNotes('c', page(range(1, 2), { moreBefore: false, pruned: 1200 }));
    expect(notes.map((n) => n.text)).toEqual(['Start of the kept log (1,200 older lines were removed by retention)']);
    const gap = pageNotes('c', page(range(1, 2), { events: [{ at: '2026-11-22T10:00:00Z', kind: 'gap', before: line(2).cursor, count: 42 }] }));
    expect(gap.map((n) => [n.text, n.tone])).toEqual([['42 lines were not recorded here', 'warn']]);
  });

  it('places an event of an empty page by its own time', () => {
    expect(eventPlace({ at: '2026-11-22T10:00:00.5Z', kind: 'removed', before: null }, []))
      .toEqual({ ts: '2026-11-22T10:00:00.500000000Z', at: '', rank: 0 });
  });
});

describe('merged pages', () => {
  it('keep only the span every container covers, going back', () => {
    // a printed every second, b every tenth: b's 5 lines reach further back.
    const a = page(range(96, 100));
    const b = page(range(60, 100, 10));
    const out = contiguous([{ container: 'a', page: a }, { container: 'b', page: b }], 'older');
    expect(out[0]!.page.lines.map((l) => l.text)).toEqual(range(96, 100).map((l) => l.text));
    expect(out[1]!.page.lines.map((l) => l.text)).toEqual(['line 100']);
    expect(out[1]!.more).toBe(true);
  });

  it('a container at its start does not hold the others back', () => {
    const a = page(range(96, 100));
    const b = page(range(60, 100, 10), { moreBefore: false });
    const out = contiguous([{ container: 'a', page: a }, { container: 'b', page: b }], 'older');
    expect(out[1]!.page.lines.map((l) => l.text)).toEqual(['line 100']);
    const c = contiguous([{ container: 'a', page: { ...a, moreBefore: false } }, { container: 'b', page: b }], 'older');
    expect(c[1]!.page.lines.length).toBe(5);
    expect(c[1]!.more).toBe(false);
  });

  it('keep only the span every container covers, going forward', () => {
    const a = page(range(1, 5));
    const b = page(range(1, 41, 10), { events: [{ at: '2026-11-22T10:00:00Z', kind: 'exited', before: null, exitCode: 1 }] });
    const out = contiguous([{ container: 'a', page: a }, { container: 'b', page: b }], 'newer');
    expect(out[1]!.page.lines.map((l) => l.text)).toEqual(['line 1']);
    // Its exit follows its last line, which is not shown yet.
    expect(out[1]!.page.events).toEqual([]);
  });
});

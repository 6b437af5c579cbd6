// The viewer's bounded memory of lines.
//
// - Bounded: at most `max` rows; the oldest are evicted and counted in
//   `dropped` (shown as "N earlier lines not shown").
// - No duplicates: a line whose cursor this container already has is ignored
//   (labtail never sends one twice on a subscription; this also holds across
//   the client's own resubscriptions).
// - Ordered merge: with `ordered`, rows of several containers are kept in
//   timestamp order (ties by container, then cursor), so a merged view of
//   containers whose batches arrive at different moments still reads in time
//   order. Live lines are nearly always newest, so insertion is an append;
//   an older line is placed by binary search.

import type { WireLine } from './types';

export type Row =
  | { kind: 'line'; key: string; container: string; owner: string | null; line: WireLine }
  | { kind: 'gap'; key: string; container: string; ts: string; count: number | null; from: string | null; to: string | null }
  | { kind: 'note'; key: string; container: string; ts: string; text: string; tone: 'info' | 'warn' | 'error' };

const tsOf = (r: Row) => (r.kind === 'line' ? r.line.ts : r.ts);
const cursorOf = (r: Row) => (r.kind === 'line' ? r.line.cursor : '');

/** Total order used by merged views. */
export function compareRows(a: Row, b: Row): number {
  const ta = tsOf(a);
  const tb = tsOf(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  if (a.container !== b.container) return a.container < b.container ? -1 : 1;
  const ca = cursorOf(a);
  const cb = cursorOf(b);
  return ca === cb ? 0 : ca < cb ? -1 : 1;
}

let noteSeq = 0;

export class LogBuffer {
  private rows: Row[] = [];
  private head = 0;
  private seen = new Map<string, Set<string>>();
  /** Rows evicted from the front since the buffer was made. */
  dropped = 0;
  /** Log lines held now (rows that are not gap or note markers). */
  lines = 0;
  /** Increases on every change; views re-render when it moves. */
  version = 0;

  constructor(readonly max: number, readonly ordered = false) {}

  get length(): number {
    return this.rows.length - this.head;
  }

  at(i: number): Row | undefined {
    return this.rows[this.head + i];
  }

  toArray(): Row[] {
    return this.rows.slice(this.head);
  }

  /** Adds lines of one container; returns how many were new. */
  addLines(container: string, owner: string | null, lines: WireLine[]): number {
    let set = this.seen.get(container);
    if (!set) {
      set = new Set();
      this.seen.set(container, set);
    }
    let added = 0;
    for (const line of lines) {
      if (set.has(line.cursor)) continue;
      set.add(line.cursor);
      this.insert({ kind: 'line', key: `${container}\u0000${line.cursor}`, container, owner, line });
      this.lines++;
      added++;
    }
    if (added) this.version++;
    return added;
  }

  addGap(container: string, gap: { from: string | null; to: string | null; count: number | null }, ts: string): void {
    this.insert({ kind: 'gap', key: `gap\u0000${container}\u0000${gap.from}\u0000${gap.to}\u0000${noteSeq++}`, container, ts, ...gap });
    this.version++;
  }

  addNote(container: string, text: string, tone: 'info' | 'warn' | 'error', ts: string): void {
    this.insert({ kind: 'note', key: `note\u0000${noteSeq++}`, container, ts, text, tone });
    this.version++;
  }

  /** The newest line of a container (what a resume starts after). */
  lastCursor(container: string): string | undefined {
    for (let i = this.rows.length - 1; i >= this.head; i--) {
      const r = this.rows[i]!;
      if (r.kind === 'line' && r.container === container) return r.line.cursor;
    }
    return undefined;
  }

  clear(): void {
    this.dropped += this.length;
    this.lines = 0;
    this.rows = [];
    this.head = 0;
    this.seen.clear();
    this.version++;
  }

  private insert(row: Row): void {
    if (!this.ordered || this.length === 0 || compareRows(this.rows[this.rows.length - 1]!, row) <= 0) {
      this.rows.push(row);
    } else {
      let lo = this.head;
      let hi = this.rows.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (compareRows(this.rows[mid]!, row) <= 0) lo = mid + 1;
        else hi = mid;
      }
      this.rows.splice(lo, 0, row);
    }
    while (this.length > this.max) this.evictFront();
    // Compact now and then so evicted rows do not hold memory.
    if (this.head > 1024 && this.head > this.length) {
      this.rows = this.rows.slice(this.head);
      this.head = 0;
    }
  }

  private evictFront(): void {
    const r = this.rows[this.head];
    this.head++;
    this.dropped++;
    if (r && r.kind === 'line') {
      this.lines--;
      this.seen.get(r.container)?.delete(r.line.cursor);
    }
  }
}

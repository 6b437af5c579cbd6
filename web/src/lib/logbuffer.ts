// The viewer's bounded memory of lines: a window onto a container's log (or
// several containers' logs, merged), which live lines extend at its newest
// end and history pages at either end.
//
// - Bounded: at most `max` rows. Which end gives way depends on which end
//   grew: live lines and newer pages evict the oldest rows (counted in
//   `dropped`, "N earlier lines not shown"); an older page evicts the newest
//   (counted in `droppedNewer`: the window no longer reaches the live end).
// - No duplicates: a line whose cursor this container already has is ignored
//   (labtail never sends one twice on a subscription; this also holds across
//   the client's own resubscriptions and for pages that overlap), and so is a
//   history event marker the buffer already holds.
// - Ordered merge: with `ordered`, rows of several containers are kept in
//   timestamp order (ties by container, then cursor), so a merged view of
//   containers whose batches arrive at different moments still reads in time
//   order. Live lines are nearly always newest, so insertion is an append;
//   an older line is placed by binary search, a page merged in one pass.
// - Markers in place: a gap or a lifecycle event names the line it comes
//   before or after (`at`, `rank`), and sorts right next to it, so it stays
//   where its lines are (or would have been) however the window moves.

import type { WireLine } from './types';
import { cursorTs } from './cursor';

export type Tone = 'info' | 'warn' | 'error';

/** Where a marker sits: just before (`rank` -1) or just after (+1) the line
 * with cursor `at`, whose `ts` it takes; or (`at` '' and rank 0) by its own
 * time alone. */
export interface Place {
  ts: string;
  at: string;
  rank: -1 | 0 | 1;
}

export type Row =
  | { kind: 'line'; key: string; container: string; owner: string | null; line: WireLine }
  | ({ kind: 'gap'; key: string; container: string; count: number | null; from: string | null; to: string | null } & Place)
  | ({ kind: 'note'; key: string; container: string; text: string; tone: Tone } & Place);

export interface Gap {
  from: string | null;
  to: string | null;
  count: number | null;
}

/** A marker to insert with a page (a history event, the start of the log). */
export interface NoteInput {
  /** Stable for the same event, so a page read twice shows it once. */
  key: string;
  place: Place;
  text: string;
  tone: Tone;
}

/** Which end gives way when the buffer is over its bound. */
export type Evict = 'oldest' | 'newest';

const tsOf = (r: Row) => (r.kind === 'line' ? r.line.ts : r.ts);
const cursorOf = (r: Row) => (r.kind === 'line' ? r.line.cursor : r.at);
const rankOf = (r: Row) => (r.kind === 'line' ? 0 : r.rank);

/** Total order used by merged views. */
export function compareRows(a: Row, b: Row): number {
  const ta = tsOf(a);
  const tb = tsOf(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  if (a.container !== b.container) return a.container < b.container ? -1 : 1;
  const ca = cursorOf(a);
  const cb = cursorOf(b);
  if (ca !== cb) return ca < cb ? -1 : 1;
  return rankOf(a) - rankOf(b);
}

/** Where a gap goes: just before the first line after it, else just after
 * the last line before it, else (neither known) at `fallbackTs`. Its time
 * is its cursor's, so it sorts between the lines it separates (a gap stamped
 * '' sorted first, and a full buffer evicted it before anyone saw it). */
export function gapPlace(gap: Gap, fallbackTs: string): Place {
  const to = gap.to ? cursorTs(gap.to) : null;
  if (gap.to && to) return { ts: to, at: gap.to, rank: -1 };
  const from = gap.from ? cursorTs(gap.from) : null;
  if (gap.from && from) return { ts: from, at: gap.from, rank: 1 };
  return { ts: fallbackTs, at: '', rank: 0 };
}

let noteSeq = 0;

export class LogBuffer {
  private rows: Row[] = [];
  private head = 0;
  private seen = new Map<string, Set<string>>();
  /** Keys of the markers held that must not be shown twice. */
  private markers = new Set<string>();
  /** Lines evicted from the oldest end and not loaded again since. */
  dropped = 0;
  /** Lines evicted from the newest end and not loaded again since. */
  droppedNewer = 0;
  /** Live lines taken so far (never goes down: "N new" counts from it). */
  received = 0;
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

  private seenOf(container: string): Set<string> {
    let set = this.seen.get(container);
    if (!set) {
      set = new Set();
      this.seen.set(container, set);
    }
    return set;
  }

  /** Whether the buffer holds this line. */
  has(container: string, cursor: string): boolean {
    return this.seen.get(container)?.has(cursor) ?? false;
  }

  /** Adds live lines of one container (the oldest give way); returns how many were new. */
  addLines(container: string, owner: string | null, lines: WireLine[]): number {
    const set = this.seenOf(container);
    let added = 0;
    for (const line of lines) {
      if (set.has(line.cursor)) continue;
      set.add(line.cursor);
      this.insert({ kind: 'line', key: `${container}\u0000${line.cursor}`, container, owner, line });
      this.lines++;
      added++;
    }
    this.received += added;
    if (added) this.version++;
    return added;
  }

  /**
   * Adds a page of one container's history and its markers in one pass;
   * `evict` says which end gives way if the buffer is then over its bound
   * (`newest` for a page older than what is held). Returns how many lines
   * were new.
   */
  addPage(container: string, owner: string | null, lines: WireLine[], notes: NoteInput[], evict: Evict): number {
    const set = this.seenOf(container);
    const fresh: Row[] = [];
    for (const line of lines) {
      if (set.has(line.cursor)) continue;
      set.add(line.cursor);
      fresh.push({ kind: 'line', key: `${container}\u0000${line.cursor}`, container, owner, line });
    }
    const added = fresh.length;
    for (const n of notes) {
      if (this.markers.has(n.key)) continue;
      this.markers.add(n.key);
      fresh.push({ kind: 'note', key: n.key, container, text: n.text, tone: n.tone, ...n.place });
    }
    if (fresh.length === 0) return 0;
    this.lines += added;
    // Lines reloaded at an end make up for rows evicted there before.
    if (evict === 'newest') this.dropped = Math.max(0, this.dropped - added);
    else this.droppedNewer = Math.max(0, this.droppedNewer - added);
    this.merge(fresh);
    this.trim(evict);
    this.version++;
    return added;
  }

  addGap(container: string, gap: Gap, fallbackTs: string): void {
    this.insert({
      kind: 'gap', key: `gap\u0000${container}\u0000${gap.from}\u0000${gap.to}\u0000${noteSeq++}`, container,
      ...gap, ...gapPlace(gap, fallbackTs),
    });
    this.version++;
  }

  /**
   * Adds a note at the newest end. With `once`, not if the newest marker of
   * this container already says the same (a page's "exited" and the stream's
   * end telling the same exit).
   */
  addNote(container: string, text: string, tone: Tone, ts: string, once = false): void {
    if (once) {
      // Only the last rows matter; a bounded look keeps this cheap.
      for (let i = this.rows.length - 1; i >= Math.max(this.head, this.rows.length - 2000); i--) {
        const r = this.rows[i]!;
        if (r.container !== container) continue;
        if (r.kind === 'note' && r.text === text) return;
        if (r.kind === 'line') break;
      }
    }
    this.insert({ kind: 'note', key: `note\u0000${noteSeq++}`, container, ts, at: '', rank: 0, text, tone });
    this.version++;
  }

  /** Forgets every row of one container (a merged view dropping it): the
   * others read as if it had never been there. */
  removeContainer(container: string): void {
    const kept: Row[] = [];
    for (let i = this.head; i < this.rows.length; i++) {
      const r = this.rows[i]!;
      if (r.container !== container) kept.push(r);
      else if (r.kind === 'line') this.lines--;
      else this.markers.delete(r.key);
    }
    this.rows = kept;
    this.head = 0;
    this.seen.delete(container);
    this.version++;
  }

  /** Replaces a gap by what is still missing (fewer lines, a later start), or
   * drops it (`rest` null) once its lines are loaded. */
  updateGap(key: string, rest: Gap | null): void {
    const i = this.rows.findIndex((r, n) => n >= this.head && r.key === key);
    if (i < 0) return;
    const old = this.rows[i] as Row & { kind: 'gap' };
    this.rows.splice(i, 1);
    if (rest) this.insert({ ...old, ...rest, ...gapPlace(rest, old.ts), key: `${old.key}\u0000${noteSeq++}` });
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

  /** The oldest line of a container (what an older page ends before). */
  firstCursor(container: string): string | undefined {
    for (let i = this.head; i < this.rows.length; i++) {
      const r = this.rows[i]!;
      if (r.kind === 'line' && r.container === container) return r.line.cursor;
    }
    return undefined;
  }

  /** The time of the oldest and newest rows held. */
  span(): [string, string] | undefined {
    if (this.length === 0) return undefined;
    return [tsOf(this.rows[this.head]!), tsOf(this.rows[this.rows.length - 1]!)];
  }

  /** Empties the buffer for another window (a jump in time, back to live). */
  reset(): void {
    this.rows = [];
    this.head = 0;
    this.seen.clear();
    this.markers.clear();
    this.dropped = 0;
    this.droppedNewer = 0;
    this.lines = 0;
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
    this.trim('oldest');
  }

  /** Puts rows in place: one pass over what is held (an older page lands in
   * front, a newer one behind, a gap's lines in between). */
  private merge(fresh: Row[]): void {
    const held = this.rows.slice(this.head);
    this.head = 0;
    if (!this.ordered) {
      // Unordered: a page goes at the end its lines are older or newer than.
      const older = held.length > 0 && fresh[0]!.kind === 'line' && held[0]!.kind === 'line'
        && fresh[0]!.line.ts < held[0]!.line.ts;
      this.rows = older ? [...fresh, ...held] : [...held, ...fresh];
      return;
    }
    fresh.sort(compareRows);
    if (held.length === 0 || compareRows(fresh[fresh.length - 1]!, held[0]!) <= 0) {
      this.rows = fresh.concat(held);
      return;
    }
    if (compareRows(held[held.length - 1]!, fresh[0]!) <= 0) {
      this.rows = held.concat(fresh);
      return;
    }
    const out: Row[] = new Array(held.length + fresh.length);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < held.length && j < fresh.length) {
      out[k++] = compareRows(held[i]!, fresh[j]!) <= 0 ? held[i++]! : fresh[j++]!;
    }
    while (i < held.length) out[k++] = held[i++]!;
    while (j < fresh.length) out[k++] = fresh[j++]!;
    this.rows = out;
  }

  private trim(evict: Evict): void {
    if (evict === 'newest') {
      while (this.length > this.max) this.forget(this.rows.pop(), 'newest');
    } else {
      while (this.length > this.max) this.forget(this.rows[this.head++], 'oldest');
    }
    // Compact now and then so evicted rows do not hold memory.
    if (this.head > 1024 && this.head > this.length) {
      this.rows = this.rows.slice(this.head);
      this.head = 0;
    }
  }

  private forget(r: Row | undefined, end: Evict): void {
    if (!r) return;
    if (r.kind === 'line') {
      // Lines, not markers: what "N earlier lines not shown" counts.
      if (end === 'oldest') this.dropped++;
      else this.droppedNewer++;
      this.lines--;
      this.seen.get(r.container)?.delete(r.line.cursor);
    } else {
      this.markers.delete(r.key);
    }
  }
}

// A view's window onto its containers' logs: the newest lines live from the
// socket, and any other stretch of their history paged in over HTTP.
//
// The window is either live (its newest end is the stream's: watches run,
// their lines are appended, the oldest rows give way) or detached (a stretch
// of history: no watch runs, since lines arriving past a hole would not
// belong). It detaches when an older page pushes the newest rows out, or
// when the user jumps to a time or opens a permalink; it attaches again when
// paging forward reaches the recorded end (the watch resumes after the last
// line held, which labtail serves with no gap) or on "jump to latest".
//
// Every change of window bumps `epoch`: a page or a batch of live lines
// that was asked for under another epoch is dropped, not spliced into a
// window it does not join.
//
// A container the user may no longer see (`container-log-end` "revoked": a
// course membership changed) is over for the window: nothing of it is asked
// again, live or from history. A view of it alone keeps what it shows,
// with a final notice; a merged view drops it (its rows go: merged views
// only show the span every container covers) and goes on with the others.

import { FrameBatcher, type Schedule } from './batcher';
import type { LabtailClient } from './client';
import { ApiError } from './api';
import { contiguous, fetchPage, MAX_PAGE_LINES, pageNotes, PAGE_LINES, type Anchor } from './history';
import { LogBuffer, type Evict, type Row, type Tone } from './logbuffer';
import type { ContainerGap, HistoryPage, WireLine } from './types';

export interface ContainerState {
  state: string;
  exitCode?: number | null;
  error?: string;
  /** The server's name for the container (the view may have asked by ID). */
  served?: string;
  /** Set by a `docker rename` while watched: its name now. */
  renamedTo?: string;
}

/** Whether history answers for a container: `yes`, `no` (history is off on
 * the server), `unknown` (not recorded yet, or not asked yet). */
export type HistoryState = 'yes' | 'no' | 'unknown';

/** What the window is busy with, if anything. */
export type Busy = 'live' | 'older' | 'newer' | 'jump' | 'gap' | null;

/** Where the view should scroll after a jump: to a line, or to the top. */
export interface Focus {
  seq: number;
  /** The row key of the line to show (and highlight). */
  key?: string;
  edge?: 'top';
}

type Event =
  | { kind: 'lines'; container: string; lines: WireLine[] }
  | { kind: 'revoked'; container: string }
  | { kind: 'gap'; container: string; gap: ContainerGap }
  | { kind: 'note'; container: string; text: string; tone: Tone; once?: boolean };
/** An event with the epoch of the window it was sent to. */
type Item = Event & { epoch: number };

export interface WindowOptions {
  client: Pick<LabtailClient, 'watch'>;
  /** What the route asked for: names, IDs or ID prefixes. */
  containers: string[];
  owners: () => Record<string, string | null>;
  /** The name (or ID) history knows a container by; the asked name by default. */
  historyName?: (container: string) => string | undefined;
  maxLines: number;
  /** Lines of the live tail a view opens with. */
  tail: number;
  /** History pages (history.ts's `fetchPage`; another in tests). */
  fetchPage?: (container: string, anchor: Anchor, limit: number) => Promise<HistoryPage>;
  schedule?: Schedule;
}

/** What a view says when the user may no longer see its container. */
export const REVOKED_TEXT = 'You no longer have access to this container (course membership changed)';
/** And a merged view, beside the container's name. */
export const REVOKED_MERGED_TEXT = 'you no longer have access to this container (course membership changed); it was dropped from this view';

const nowTs = () => new Date().toISOString().replace('Z', '000000Z');
const lineKey = (container: string, cursor: string) => `${container}\u0000${cursor}`;

/** How long a container history did not know is not asked about again. */
const PROBE_EVERY_MS = 5000;

export class LogWindow {
  readonly buffer: LogBuffer;
  states: Record<string, ContainerState> = {};
  historyOf: Record<string, HistoryState> = {};
  /** The window's newest end is live. */
  live = false;
  busy: Busy = null;
  /** The last history request that failed for another reason than "not in history". */
  error = '';
  focus: Focus | null = null;
  /** Row key of the line a permalink or the user picked. */
  highlight: string | undefined;
  /** Containers the user may no longer see, in the order they went. */
  revoked: string[] = [];

  private readonly containers: string[];
  private epoch = 0;
  private busyToken: object | null = null;
  private focusSeq = 0;
  private watches = new Map<string, () => void>();
  private lastState = new Map<string, string>();
  /** Per container, the cursor of the first line of its log as far as
   * history knows (`null`: history holds none before what is shown). */
  private startOf = new Map<string, string | null>();
  private probed = new Map<string, number>();
  /** Per container, the newest line history gave when the window opened on
   * the live end, held or not (a merged window may leave it out). */
  private newestRead = new Map<string, string>();
  private listeners = new Set<() => void>();
  private readonly batcher: FrameBatcher<Item>;
  private readonly fetch: NonNullable<WindowOptions['fetchPage']>;

  constructor(private readonly opts: WindowOptions) {
    this.containers = opts.containers;
    this.buffer = new LogBuffer(opts.maxLines, true);
    this.fetch = opts.fetchPage ?? fetchPage;
    this.batcher = new FrameBatcher<Item>((items) => this.apply(items), opts.schedule);
    for (const c of this.containers) this.historyOf[c] = 'unknown';
  }

  subscribe(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  private changed(): void {
    for (const f of this.listeners) f();
  }

  /** The containers the window still shows (not revoked). */
  get active(): string[] {
    return this.revoked.length ? this.containers.filter((c) => !this.revoked.includes(c)) : this.containers;
  }

  /** Nothing is left to show live or to load: every container was revoked. */
  get ended(): boolean {
    return this.active.length === 0;
  }

  /** Whether any container's history answers (the view's history tools). */
  get history(): boolean {
    return this.active.some((c) => this.historyOf[c] === 'yes');
  }

  /** The first line held is the first of its container's log. */
  atStart(container: string): boolean {
    const s = this.startOf.get(container);
    if (s === undefined) return false;
    if (s === null) return true;
    return this.buffer.firstCursor(container) === s;
  }

  /** Older lines than the window's are in history, to load. */
  get moreBefore(): boolean {
    return this.history && this.active.some((c) => this.historyOf[c] !== 'no' && !this.atStart(c));
  }

  /** Opens the view: at a line (a permalink) or on the live tail. */
  open(at?: string): void {
    if (at && this.containers.length === 1) void this.openAt(at);
    else void this.goLive();
  }

  close(): void {
    this.detach();
  }

  // The live end.

  private watch(name: string, resume: () => string | undefined): void {
    this.watches.get(name)?.();
    // Stamped with the window it was started for: what it sends after the
    // window moved on (already on its way when it was stopped) is dropped.
    const epoch = this.epoch;
    const push = (it: Event) => this.batcher.push({ ...it, epoch });
    const stop = this.opts.client.watch(name, this.opts.tail, {
      onServed: (served) => this.setState(name, { state: this.states[name]?.state ?? 'connecting', served }),
      onLines: (lines) => push({ kind: 'lines', container: name, lines }),
      onGap: (gap) => push({ kind: 'gap', container: name, gap }),
      onStatus: (s) => {
        // Notes mark transitions only: a stopped container starting again, the
        // engine going away. The state a (re)subscription starts in is not one.
        const prev = this.lastState.get(name);
        this.lastState.set(name, s.state);
        this.setState(name, { state: s.state, exitCode: s.exitCode, error: undefined });
        if (s.state === 'running' && prev && prev !== 'running') {
          push({ kind: 'note', container: name, text: 'container started', tone: 'info' });
        } else if (s.state === 'engine-down' && prev !== 'engine-down') {
          push({ kind: 'note', container: name, text: 'Docker engine unreachable; reconnecting', tone: 'warn' });
        }
      },
      onEnd: (e) => {
        if (e.reason === 'revoked') {
          this.revoke(name, push);
          return;
        }
        const text = e.reason === 'exited'
          ? `container exited with code ${e.exitCode ?? '?'}`
          : e.reason === 'removed' ? 'container removed' : `stream ended (${e.reason})`;
        // A page read just before may have told this very end already.
        push({ kind: 'note', container: name, text, tone: e.reason === 'exited' && e.exitCode === 0 ? 'info' : 'error', once: true });
        this.lastState.set(name, e.reason === 'exited' ? 'exited' : e.reason);
        this.setState(name, { state: e.reason === 'exited' ? 'exited' : e.reason, exitCode: e.exitCode });
      },
      onRenamed: (_old, renamed) => {
        this.setState(name, { served: renamed, renamedTo: renamed });
        push({ kind: 'note', container: name, text: `container renamed to ${renamed}`, tone: 'info' });
      },
      onError: (err) => this.setState(name, { state: 'error', error: err.message }),
      resumeFrom: resume,
    });
    this.watches.set(name, stop);
  }

  /** The user may no longer see `name`: its watch is over (the client
   * forgot it already), nothing more of it is asked; its notice (and, in a
   * merged view, the removal of its rows) comes after its last lines. */
  private revoke(name: string, push: (it: Event) => void): void {
    if (this.revoked.includes(name)) return;
    this.revoked = [...this.revoked, name];
    this.watches.get(name)?.();
    this.watches.delete(name);
    this.lastState.set(name, 'revoked');
    if (this.ended) this.live = false;
    push({ kind: 'revoked', container: name });
    this.setState(name, { state: 'revoked', error: undefined });
  }

  private setState(name: string, patch: Partial<ContainerState>): void {
    this.states = { ...this.states, [name]: { state: 'connecting', ...this.states[name], ...patch } };
    this.changed();
  }

  private apply(items: Item[]): void {
    for (const it of items) {
      // Sent to a window that has moved on since.
      if (it.epoch !== this.epoch) continue;
      if (it.kind === 'lines') {
        this.buffer.addLines(it.container, this.opts.owners()[it.container] ?? null, it.lines);
        this.settleStart(it.container);
        this.probe(it.container);
      } else if (it.kind === 'gap') {
        this.buffer.addGap(it.container, it.gap, nowTs());
      } else if (it.kind === 'revoked') {
        if (this.containers.length > 1) {
          this.buffer.removeContainer(it.container);
          this.buffer.addNote(it.container, REVOKED_MERGED_TEXT, 'error', nowTs());
        } else {
          this.buffer.addNote(it.container, REVOKED_TEXT, 'error', nowTs());
        }
      } else {
        this.buffer.addNote(it.container, it.text, it.tone, nowTs(), it.once);
      }
    }
    this.changed();
  }

  /** Watches every container from the newest line held (or the tail). A
   * container whose lines all lie before a merged window's start resumes
   * after the newest history gave: its tail would open a hole in time. */
  private attach(): void {
    if (this.ended) return;
    this.live = true;
    for (const c of this.active) this.watch(c, () => this.buffer.lastCursor(c) ?? this.newestRead.get(c));
  }

  /** Stops the live end: lines on their way are dropped with the epoch. */
  private detach(): void {
    this.epoch++;
    for (const stop of this.watches.values()) stop();
    this.watches.clear();
    this.live = false;
  }

  /** Starts another window from nothing. */
  private reset(): void {
    this.detach();
    this.buffer.reset();
    this.startOf.clear();
    this.newestRead.clear();
    this.focus = null;
    this.error = '';
  }

  // History.

  private historyName(c: string): string {
    return this.opts.historyName?.(c) ?? this.states[c]?.served ?? c;
  }

  /** A page of a container's history, or null where history cannot give it. */
  private async page(c: string, anchor: Anchor, limit: number): Promise<HistoryPage | null> {
    if (this.historyOf[c] === 'no') return null;
    try {
      const p = await this.fetch(this.historyName(c), anchor, limit);
      this.historyOf[c] = 'yes';
      return p;
    } catch (e) {
      if (e instanceof ApiError && e.code === 'unavailable' && e.status === 503) this.historyOf[c] = 'no';
      else if (!(e instanceof ApiError && e.code === 'forbidden_or_missing')) {
        this.error = e instanceof Error ? e.message : String(e);
      }
      return null;
    }
  }

  /** Asks once in a while whether history has a container it did not know
   * (the view opened before the recorder followed it). */
  private probe(c: string): void {
    if (this.historyOf[c] !== 'unknown' || this.revoked.includes(c)) return;
    const last = this.probed.get(c) ?? 0;
    if (Date.now() - last < PROBE_EVERY_MS) return;
    this.probed.set(c, Date.now());
    void this.page(c, { tail: true }, 1).then((p) => {
      if (!p) return;
      // A view of one container that let nothing go holds all history has
      // recorded: its first line is the start.
      if (this.containers.length === 1 && this.buffer.dropped === 0 && p.pruned === 0 && p.total <= this.buffer.lines) {
        this.startOf.set(c, this.buffer.firstCursor(c) ?? null);
      }
      this.changed();
    });
  }

  private settleStart(c: string): void {
    // History had nothing of it before: its first line is its start.
    if (this.startOf.get(c) === null) {
      const first = this.buffer.firstCursor(c);
      if (first) this.startOf.set(c, first);
    }
  }

  private addPages(pages: { container: string; page: HistoryPage }[], evict: Evict): void {
    const owners = this.opts.owners();
    for (const { container: c, page } of pages) {
      // Asked for before the container was revoked.
      if (this.revoked.includes(c)) continue;
      this.buffer.addPage(c, owners[c] ?? null, page.lines, pageNotes(c, page), evict);
      if (!page.moreBefore) this.startOf.set(c, page.lines[0]?.cursor ?? this.buffer.firstCursor(c) ?? null);
      this.settleStart(c);
    }
  }

  private begin(what: Busy): object {
    const token = {};
    this.busyToken = token;
    this.busy = what;
    this.changed();
    return token;
  }

  private end(token: object): void {
    if (this.busyToken !== token) return;
    this.busyToken = null;
    this.busy = null;
    this.changed();
  }

  /** Back to the live tail: the newest lines history holds, then the
   * stream from right after them (or, without history, its tail). */
  async goLive(): Promise<void> {
    // An ended view keeps what it shows: there is nothing to go to.
    if (this.ended) return;
    this.reset();
    const cs = this.active;
    const epoch = this.epoch;
    const token = this.begin('live');
    try {
      const got = await Promise.all(cs.map((c) => this.page(c, { tail: true }, this.opts.tail)));
      if (epoch !== this.epoch) return;
      const pages = cs.flatMap((c, i) => (got[i] ? [{ container: c, page: got[i]! }] : []));
      for (const { container, page } of pages) {
        const last = page.lines[page.lines.length - 1];
        if (last) this.newestRead.set(container, last.cursor);
      }
      this.addPages(contiguous(pages, 'older'), 'oldest');
      this.attach();
    } finally {
      this.end(token);
    }
  }

  /** The page before the oldest line held, in front of it. Past the bound
   * the newest rows give way, and the window is no longer live. */
  async loadOlder(): Promise<void> {
    if (this.busy) return;
    const anchors = this.active
      .filter((c) => this.historyOf[c] !== 'no' && !this.atStart(c))
      .flatMap((c) => {
        const first = this.buffer.firstCursor(c);
        return first ? [[c, first] as const] : [];
      });
    if (anchors.length === 0) return;
    // A full window gives way at its newest end anyway: stop the live end
    // first, so live lines do not move its oldest end meanwhile.
    if (this.live && this.buffer.length + PAGE_LINES > this.buffer.max) this.detach();
    const epoch = this.epoch;
    const token = this.begin('older');
    try {
      const got = await Promise.all(anchors.map(([c, first]) => this.page(c, { before: first }, PAGE_LINES)));
      if (epoch !== this.epoch) return;
      // Live lines evicted the line it was to go before: it no longer joins.
      if (anchors.some(([c, first]) => !this.buffer.has(c, first))) return;
      const pages = anchors.flatMap(([c], i) => (got[i] ? [{ container: c, page: got[i]! }] : []));
      const evicted = this.buffer.droppedNewer;
      this.addPages(contiguous(pages, 'older'), 'newest');
      if (this.live && this.buffer.droppedNewer > evicted) this.detach();
    } finally {
      this.end(token);
    }
  }

  /** The page after the newest line held (a detached window); reaching the
   * recorded end makes it live again. */
  async loadNewer(): Promise<void> {
    if (this.busy || this.live || this.ended) return;
    const span = this.buffer.span();
    const anchors = this.active.filter((c) => this.historyOf[c] !== 'no').map((c) => {
      const last = this.buffer.lastCursor(c);
      const a: Anchor = last ? { after: last } : span ? { from: span[1] } : { tail: true };
      return [c, a] as const;
    });
    const epoch = this.epoch;
    const token = this.begin('newer');
    try {
      const got = await Promise.all(anchors.map(([c, a]) => this.page(c, a, PAGE_LINES)));
      if (epoch !== this.epoch) return;
      const pages = anchors.flatMap(([c], i) => (got[i] ? [{ container: c, page: got[i]! }] : []));
      const joined = contiguous(pages, 'newer');
      this.addPages(joined, 'oldest');
      if (joined.every((p) => !p.more)) this.attach();
    } finally {
      this.end(token);
    }
  }

  /** A window from a time on (an RFC 3339 time); not live. */
  async jumpTo(time: string): Promise<void> {
    if (this.ended) return;
    this.reset();
    const cs = this.active;
    const epoch = this.epoch;
    const token = this.begin('jump');
    try {
      const got = await Promise.all(cs.map((c) => this.page(c, { from: time }, PAGE_LINES)));
      if (epoch !== this.epoch) return;
      const pages = cs.flatMap((c, i) => (got[i] ? [{ container: c, page: got[i]! }] : []));
      if (pages.length === 0) {
        this.end(token);
        await this.goLive();
        this.error ||= 'History is not available for this view.';
        this.changed();
        return;
      }
      const joined = contiguous(pages, 'newer');
      if (joined.every((p) => p.page.lines.length === 0 && !p.more)) {
        // Nothing recorded from then on: that is the live end.
        this.end(token);
        await this.goLive();
        return;
      }
      this.addPages(joined, 'oldest');
      this.focus = { seq: ++this.focusSeq, edge: 'top' };
      if (joined.every((p) => !p.more)) this.attach();
    } finally {
      this.end(token);
    }
  }

  /** The window around one line (a permalink), which is highlighted. */
  async openAt(cursor: string): Promise<void> {
    const c = this.containers[0]!;
    if (this.ended) return;
    this.reset();
    const epoch = this.epoch;
    const token = this.begin('jump');
    try {
      const page = await this.page(c, { around: cursor }, PAGE_LINES);
      if (epoch !== this.epoch) return;
      if (!page || !page.lines.some((l) => l.cursor === cursor)) {
        this.end(token);
        await this.goLive();
        this.error = 'That line is not in this container\'s history; showing the live log.';
        this.changed();
        return;
      }
      this.addPages([{ container: c, page }], 'oldest');
      this.highlight = lineKey(c, cursor);
      this.focus = { seq: ++this.focusSeq, key: this.highlight };
      if (!page.moreAfter) this.attach();
    } finally {
      this.end(token);
    }
  }

  /** Marks a line as the one the address names. */
  pick(container: string, cursor: string): void {
    this.highlight = lineKey(container, cursor);
    this.changed();
  }

  /** Loads a gap's lines from history (the stream again where history does
   * not have them); what one page does not cover stays a smaller gap. */
  async fillGap(row: Row & { kind: 'gap' }): Promise<void> {
    const c = row.container;
    if (this.busy || this.revoked.includes(c)) return;
    if (this.historyOf[c] === 'no' || (!row.from && !row.to)) {
      this.refill(c, row.from);
      return;
    }
    // One more than it lost: the page then reaches the line after the gap.
    const limit = Math.min(MAX_PAGE_LINES, Math.max(PAGE_LINES, (row.count ?? PAGE_LINES) + 1));
    const anchor: Anchor = row.from ? { after: row.from } : { before: row.to! };
    const epoch = this.epoch;
    const token = this.begin('gap');
    try {
      const page = await this.page(c, anchor, limit);
      if (epoch !== this.epoch) return;
      if (!page) {
        this.refill(c, row.from);
        return;
      }
      let lines = page.lines;
      let reached: boolean;
      // History does not hold them all yet (it records a moment behind the
      // live end): the stream sends the rest again.
      let rest = false;
      if (row.from) {
        const end = row.to ? lines.findIndex((l) => l.cursor === row.to) : -1;
        if (end >= 0) lines = lines.slice(0, end);
        reached = end >= 0 || !page.moreAfter;
        rest = row.to !== null && end < 0 && !page.moreAfter;
      } else {
        reached = !page.moreBefore || (row.count !== null && lines.length >= row.count);
      }
      const kept = new Set(lines.map((l) => l.cursor));
      const part = { ...page, lines, events: page.events.filter((e) => e.before && kept.has(e.before)) };
      this.buffer.addPage(c, this.opts.owners()[c] ?? null, lines, pageNotes(c, part), this.live ? 'oldest' : 'newest');
      const count = row.count === null ? null : Math.max(0, row.count - lines.length);
      this.buffer.updateGap(row.key, reached || count === 0 ? null : row.from
        ? { from: lines[lines.length - 1]?.cursor ?? row.from, to: row.to, count }
        : { from: null, to: lines[0]?.cursor ?? row.to, count });
      if (rest) this.refill(c, lines[lines.length - 1]?.cursor ?? row.from);
    } finally {
      this.end(token);
    }
  }

  /** Starts a container's stream again after a cursor: labtail resends from
   * there, the buffer drops what it already has and puts the rest in order.
   * Later reconnects resume from the newest line as usual. */
  refill(container: string, after: string | null): void {
    if (!this.live || this.revoked.includes(container)) return;
    let first = true;
    this.watch(container, () => {
      if (first) {
        first = false;
        return after ?? undefined;
      }
      return this.buffer.lastCursor(container);
    });
  }
}

// Lab history over HTTP (docs/protocol.md, "HTTP API"): pages of a
// container's whole log, searches, bundles to download; and what a page
// becomes in the viewer's buffer (its lifecycle events as markers in place).

import { ApiError, errorOf } from './api';
import type { NoteInput, Place, Tone } from './logbuffer';
import { cursorTs, normaliseTs } from './cursor';
import type { HistoryEvent, HistoryPage, HistorySearch, SearchHit, WireLine } from './types';

/** Lines per page the viewer asks for (the server's default). */
export const PAGE_LINES = 500;
/** The most lines one page may hold (the server's `--history-max-page-lines` default). */
export const MAX_PAGE_LINES = 5000;

/** Where a page starts: before, after or around a line, from a time, the
 * oldest lines kept (`head`), or the newest (none of these). */
export type Anchor =
  | { before: string }
  | { after: string }
  | { around: string }
  | { from: string }
  | { head: true }
  | { tail: true };

async function getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(url, { credentials: 'same-origin', signal });
  if (!res.ok) throw await errorOf(res);
  return res.json() as Promise<T>;
}

function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === false || v === '') continue;
    q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function pageUrl(container: string, anchor: Anchor, limit = PAGE_LINES): string {
  const a = anchor as Partial<Record<'before' | 'after' | 'around' | 'from', string>> & { head?: true };
  return `/api/history/${encodeURIComponent(container)}/lines${query({
    before: a.before, after: a.after, around: a.around, from: a.from, head: a.head, limit,
  })}`;
}

/** A page of a container's history. Throws `ApiError`: `unavailable` (503)
 * with history off, `forbidden_or_missing` (404) for a container history
 * does not hold for this user, or a cursor it does not hold. */
export function fetchPage(container: string, anchor: Anchor, limit = PAGE_LINES, signal?: AbortSignal): Promise<HistoryPage> {
  return getJson<HistoryPage>(pageUrl(container, anchor, limit), signal);
}

/** Whether an error means "history cannot answer this" (off, not recorded,
 * a cursor it does not hold), as opposed to a failure worth showing. */
export function notInHistory(e: unknown): boolean {
  return e instanceof ApiError && (e.code === 'unavailable' || e.code === 'forbidden_or_missing');
}

export interface SearchQuery {
  q: string;
  regex?: boolean;
  ignoreCase?: boolean;
  container?: string;
  owner?: string;
  from?: string;
  to?: string;
  limit?: number;
  /** The `next` of the search before, to go on from. */
  after?: string;
}

export function searchHistory(s: SearchQuery, signal?: AbortSignal): Promise<HistorySearch> {
  return getJson<HistorySearch>(`/api/history/search${query({ ...s })}`, signal);
}

/** A zip bundle: one container's, one student's, or (no argument) every
 * container the user may read (an instructor's class). */
export function exportUrl(sel: { container?: string; owner?: string } = {}): string {
  return `/api/history/export${query(sel)}`;
}

/** The text of a lifecycle event as the viewer shows it, and its tone. */
export function describeEvent(e: HistoryEvent): { text: string; tone: Tone } {
  switch (e.kind) {
    case 'created': return { text: 'container created', tone: 'info' };
    case 'started': return { text: 'container started', tone: 'info' };
    case 'exited':
      return {
        text: `container exited with code ${e.exitCode ?? '?'}`,
        tone: e.exitCode === 0 ? 'info' : 'error',
      };
    case 'removed': return { text: 'container removed', tone: 'error' };
    case 'renamed': return { text: 'container renamed', tone: 'info' };
    case 'gap':
      return {
        text: `${e.count == null ? 'Some lines' : `${e.count.toLocaleString('en')} lines`} were not recorded here`,
        tone: 'warn',
      };
    case 'pruned':
      return {
        text: `${e.count == null ? 'Older lines' : `${e.count.toLocaleString('en')} older lines`} were removed by retention`,
        tone: 'warn',
      };
  }
}

/** Where an event of a page goes: before the line it names, else after the
 * page's last line, else (an empty page) by its own time. */
export function eventPlace(e: HistoryEvent, lines: WireLine[]): Place {
  if (e.before) {
    const line = lines.find((l) => l.cursor === e.before);
    const ts = line?.ts ?? cursorTs(e.before);
    if (ts) return { ts, at: e.before, rank: -1 };
  }
  const last = lines[lines.length - 1];
  if (last) return { ts: last.ts, at: last.cursor, rank: 1 };
  return { ts: normaliseTs(e.at) ?? e.at, at: '', rank: 0 };
}

/** A page's markers: its events in place, and the start of the log when the
 * page reaches it (with what retention dropped before it). */
export function pageNotes(container: string, page: HistoryPage): NoteInput[] {
  const notes: NoteInput[] = page.events.map((e) => ({
    key: `ev\u0000${container}\u0000${e.kind}\u0000${e.at}\u0000${e.before ?? ''}`,
    place: eventPlace(e, page.lines),
    ...describeEvent(e),
  }));
  const first = page.lines[0];
  // Markers at one place keep their order: the start goes before a first
  // line's own events.
  if (!page.moreBefore && first) {
    notes.unshift({
      key: `start\u0000${container}`,
      place: { ts: first.ts, at: first.cursor, rank: -1 },
      // A `pruned` event of the page says how many already.
      text: page.pruned === 0 ? 'Start of the log'
        : page.events.some((e) => e.kind === 'pruned') ? 'Start of the kept log'
          : `Start of the kept log (${page.pruned.toLocaleString('en')} older lines were removed by retention)`,
      tone: 'info',
    });
  }
  return notes;
}

/**
 * Pages of several containers (a merged view) read from one place onwards
 * cover different spans of time: their union is whole only up to where the
 * shortest one that has more stops. Returns the pages with the lines past
 * that point dropped (they are read again with the next page), and whether
 * each container still has more that way.
 */
export function contiguous(
  pages: { container: string; page: HistoryPage }[],
  direction: 'older' | 'newer',
): { container: string; page: HistoryPage; more: boolean }[] {
  let cut: string | undefined;
  for (const { page } of pages) {
    const more = direction === 'older' ? page.moreBefore : page.moreAfter;
    const edge = direction === 'older' ? page.lines[0] : page.lines[page.lines.length - 1];
    if (!more || !edge) continue;
    if (cut === undefined || (direction === 'older' ? edge.ts > cut : edge.ts < cut)) cut = edge.ts;
  }
  return pages.map(({ container, page }) => {
    const more = direction === 'older' ? page.moreBefore : page.moreAfter;
    if (cut === undefined) return { container, page, more };
    const c = cut;
    const lines = page.lines.filter((l) => (direction === 'older' ? l.ts >= c : l.ts <= c));
    const dropped = lines.length < page.lines.length;
    return {
      container,
      page: {
        ...page,
        lines,
        // Events of dropped lines come with them next time (one after the
        // last line, with the last line).
        events: dropped
          ? page.events.filter((e) => (e.before ? lines.some((l) => l.cursor === e.before) : direction === 'older'))
          : page.events,
        ...(direction === 'older' ? { moreBefore: page.moreBefore || dropped } : { moreAfter: page.moreAfter || dropped }),
      },
      more: more || dropped,
    };
  });
}

export type { HistoryPage, HistorySearch, SearchHit };

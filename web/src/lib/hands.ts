// A student's raised hands in this tab, and the answers they got. The
// server answers a hand on every socket of its student (`hand-answer {id,
// containerName, message, from}`), whichever tab raised it: an answer to a
// hand this tab does not know is kept too (raised in another tab), under
// its container, so the views of that container show it.
// A reload, or answers given while the student was offline, lose nothing:
// every (re)connection reads the student's own hands from the server
// (`GET /api/hands`) into the book; which notices the student closed is
// kept in this browser.

import type { HandAnswer, OwnHand } from './types';

const CLOSED_KEY = 'labtail.closedHands';
/** Closed notices remembered at most (the oldest go first). */
const MAX_CLOSED = 500;

function closedIds(): number[] {
  try {
    const v = JSON.parse(localStorage.getItem(CLOSED_KEY) ?? '[]');
    return Array.isArray(v) ? v.filter((x) => typeof x === 'number') : [];
  } catch {
    return [];
  }
}

function rememberClosed(id: number): void {
  try {
    const ids = closedIds().filter((x) => x !== id);
    ids.push(id);
    localStorage.setItem(CLOSED_KEY, JSON.stringify(ids.slice(-MAX_CLOSED)));
  } catch {
    // No storage (private mode): the notice is closed in this tab only.
  }
}

export interface Hand {
  id: number;
  /** Where it was raised. */
  containerName?: string;
  cursor?: string;
  message?: string;
  /** The line's text, as the viewer showed it. */
  lineText?: string;
  /** When this tab raised it (ms since the epoch). */
  raisedAt?: number;
  /** Every answer, oldest first. */
  answers: HandAnswer[];
  /** The student closed its notice. */
  closed: boolean;
}

export class HandBook {
  private hands = new Map<number, Hand>();
  private listeners = new Set<() => void>();
  /** Bumped on every change (for React). */
  version = 0;

  subscribe(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  private changed(): void {
    this.version++;
    for (const f of this.listeners) f();
  }

  /** A hand this tab raised (the server's answer gave its id). */
  raised(h: { id: number; containerName: string; cursor: string; message: string; lineText?: string }, now = Date.now()): void {
    const had = this.hands.get(h.id);
    this.hands.set(h.id, { answers: had?.answers ?? [], closed: false, ...h, raisedAt: now });
    this.changed();
  }

  /** An answer arrived. */
  answered(a: HandAnswer): void {
    const had = this.hands.get(a.id);
    this.hands.set(a.id, { ...(had ?? { id: a.id, containerName: a.containerName }), answers: [...(had?.answers ?? []), a], closed: false });
    this.changed();
  }

  /** The student closed a hand's notice (remembered in this browser). */
  close(id: number): void {
    const h = this.hands.get(id);
    if (!h || h.closed) return;
    this.hands.set(id, { ...h, closed: true });
    rememberClosed(id);
    this.changed();
  }

  /**
   * The student's hands as the server has them: each joins what this tab
   * knows (an answer heard live is not doubled), with where it was raised
   * and its answer, if any.
   */
  restore(list: readonly OwnHand[]): void {
    const closed = new Set(closedIds());
    for (const h of list) {
      const had = this.hands.get(h.id);
      const answers = had?.answers.length ? had.answers : h.answer ? [h.answer] : [];
      this.hands.set(h.id, {
        id: h.id,
        containerName: had?.containerName ?? h.containerName,
        cursor: had?.cursor ?? h.cursor,
        message: had?.message ?? h.message,
        lineText: had?.lineText ?? h.lineText,
        raisedAt: had?.raisedAt ?? Date.parse(h.raisedAt),
        answers,
        closed: (had?.closed ?? false) || closed.has(h.id),
      });
    }
    this.changed();
  }

  get(id: number): Hand | undefined {
    return this.hands.get(id);
  }

  /**
   * The hands a view of `containers` shows, newest first: those raised on
   * one of them, and answered hands of no known container (another tab's),
   * so no answer goes unseen. Closed ones are not shown.
   */
  forView(containers: readonly string[]): Hand[] {
    return [...this.hands.values()]
      .filter((h) => !h.closed && (h.containerName === undefined ? h.answers.length > 0 : containers.includes(h.containerName)))
      .sort((a, b) => b.id - a.id);
  }

  /** Answered hands not yet closed, newest first (any page may show them). */
  unreadAnswers(): Hand[] {
    return [...this.hands.values()].filter((h) => !h.closed && h.answers.length > 0).sort((a, b) => b.id - a.id);
  }
}

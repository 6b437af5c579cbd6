// Attention on the dashboard (docs/attention.md): who needs help now. The
// server sends the list most urgent first with every snapshot; this module
// decides what the panel shows of it (the course filter, open before
// acknowledged, what was just acknowledged or dismissed here), which
// entries are new enough to notify about, and how a checklist reads. All
// pure: the panel and its tests share it.

import { normaliseTs } from './cursor';
import type { AttentionEntry, AttentionSignal, Checkpoint, DashboardRow, Evidence, Severity } from './types';

export const SEVERITY_RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** How each signal reads in the panel. */
export const SIGNAL_LABEL: Record<AttentionSignal, string> = {
  crashed: 'Crashed',
  oom: 'Out of memory',
  'restart-loop': 'Restart loop',
  unhealthy: 'Unhealthy',
  'error-burst': 'Error burst',
  silent: 'Silent',
  runaway: 'Runaway',
  rule: 'Lab rule',
  hand: 'Raised hand',
};

type Rows = readonly Pick<DashboardRow, 'name' | 'owner' | 'courses'>[];

/**
 * Whether an entry shows under the dashboard's course filter (undefined:
 * every course). By its container's row where the dashboard has it (the
 * courses it counts for, as the table filters); else by the course label
 * the entry carries; else by its student (one the course's rows show).
 */
export function entryInCourse(e: Pick<AttentionEntry, 'containerName' | 'owner' | 'course'>, rows: Rows, course: string | undefined): boolean {
  if (course === undefined) return true;
  const row = rows.find((r) => r.name === e.containerName && r.owner === e.owner);
  if (row) return row.courses.includes(course);
  if (e.course !== undefined) return e.course === course;
  return rows.some((r) => r.owner === e.owner && r.courses.includes(course));
}

/** What was done to an entry here, until a snapshot shows it. */
export type LocalState = 'acknowledged' | 'dismissed';

export interface PanelEntries {
  /** Open entries, most urgent first. */
  open: AttentionEntry[];
  /** Acknowledged ones (shown dimmed, collapsed), most urgent first. */
  acknowledged: AttentionEntry[];
  /** How many the course filter hides. */
  hidden: number;
}

/**
 * The panel's entries: the course's only, what this page acknowledged or
 * dismissed already treated so (the server's next snapshot says the same
 * within a second), open ones first. Within each part the server's order
 * is kept (most urgent first), only made sure by severity: a stable sort.
 */
export function panelEntries(
  entries: readonly AttentionEntry[],
  rows: Rows,
  course: string | undefined,
  local: ReadonlyMap<number, LocalState> = new Map(),
): PanelEntries {
  const open: AttentionEntry[] = [];
  const acknowledged: AttentionEntry[] = [];
  let hidden = 0;
  for (const e of entries) {
    const here = local.get(e.id);
    if (here === 'dismissed') continue;
    if (!entryInCourse(e, rows, course)) {
      hidden++;
      continue;
    }
    if (e.state === 'acknowledged' || here === 'acknowledged') acknowledged.push(e.state === 'acknowledged' ? e : { ...e, state: 'acknowledged' });
    else open.push(e);
  }
  const bySeverity = (a: AttentionEntry, b: AttentionEntry) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity];
  return { open: open.sort(bySeverity), acknowledged: acknowledged.sort(bySeverity), hidden };
}

/**
 * What this page did that the snapshot now shows (or that is moot: the
 * entry left the list) is forgotten; the rest is kept.
 */
export function settleLocal(local: ReadonlyMap<number, LocalState>, entries: readonly AttentionEntry[]): Map<number, LocalState> {
  const out = new Map<number, LocalState>();
  for (const [id, s] of local) {
    const e = entries.find((x) => x.id === id);
    if (!e) continue; // Dismissed (or aged out): the snapshot agrees.
    if (s === 'acknowledged' && e.state === 'acknowledged') continue;
    out.set(id, s);
  }
  return out;
}

/** Severities worth a browser notification. */
export const NOTIFY_SEVERITIES: ReadonlySet<Severity> = new Set(['error', 'warning']);

/**
 * Which entries of a snapshot deserve a notification: open ones whose id
 * no earlier snapshot of this page had, of severity error or warning.
 * `seen` null: the first snapshot, which tells nothing new (the list as
 * the page opened). Returns those entries and every id seen so far.
 */
export function newAlerts(seen: ReadonlySet<number> | null, entries: readonly AttentionEntry[]): { fresh: AttentionEntry[]; seen: Set<number> } {
  const all = new Set(seen ?? []);
  const fresh: AttentionEntry[] = [];
  for (const e of entries) {
    if (seen && !seen.has(e.id) && e.state === 'open' && NOTIFY_SEVERITIES.has(e.severity)) fresh.push(e);
    all.add(e.id);
  }
  return { fresh, seen: all };
}

/** Whether to show a browser notification now: the instructor turned them
 * on, the browser allows them, and the tab is not being looked at. */
export function shouldNotify(o: { enabled: boolean; permission: NotificationPermission | 'unsupported'; hidden: boolean }): boolean {
  return o.enabled && o.permission === 'granted' && o.hidden;
}

/** A notification's title and text: a summary, never a log line. */
export function notificationOf(e: Pick<AttentionEntry, 'severity' | 'signal' | 'owner' | 'containerName' | 'title'>): { title: string; body: string } {
  return {
    title: `[${e.severity}] ${e.owner}: ${SIGNAL_LABEL[e.signal]}`,
    body: `${e.title} (${e.containerName})`,
  };
}

/** The line a hand was raised on among its evidence: the one stamped at
 * the entry's first time (a hand's evidence is that line and its
 * neighbours). */
export function handLine(e: Pick<AttentionEntry, 'signal' | 'firstAt' | 'evidence'>): Evidence | undefined {
  if (e.signal !== 'hand') return undefined;
  const at = normaliseTs(e.firstAt);
  return at === null ? undefined : e.evidence.find((l) => normaliseTs(l.ts) === at);
}

/** A checklist's progress: how many checkpoints are reached, of how many. */
export function progress(checkpoints: readonly Checkpoint[] | undefined): { reached: number; total: number; text: string; done: boolean } | null {
  if (!checkpoints || checkpoints.length === 0) return null;
  const reached = checkpoints.filter((c) => c.reachedAt !== undefined).length;
  return { reached, total: checkpoints.length, text: `${reached}/${checkpoints.length}`, done: reached === checkpoints.length };
}

/** How often a list with checklists still in progress is read again: the
 * contract pushes no checkpoint progress (a container's update says its
 * state only), so a student's checklist is refreshed by listing. */
export const CHECKLIST_REFRESH_MS = 15_000;

/** Whether a list holds a running container whose checklist is not done. */
export function checklistsPending(list: readonly { state: string; checkpoints?: readonly Checkpoint[] }[]): boolean {
  return list.some((c) => c.state === 'running' && c.checkpoints !== undefined && c.checkpoints.some((p) => p.reachedAt === undefined));
}

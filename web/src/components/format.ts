// How times and endings read in lists and headers.
import type { Container } from '../lib/types';

/** An RFC 3339 time (any number of fractional digits) as a Date. */
export function dateOf(ts: string): Date | null {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return null;
  const d = new Date(`${m[1]}${(m[2] ?? '').slice(0, 4)}${m[3]}`);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "2026-11-22T10:00:00.123456789Z" → local "10:00:00.123". */
export function timeOf(ts: string): string {
  const d = dateOf(ts);
  if (!d) return ts;
  return `${d.toLocaleTimeString(undefined, { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** Local date and time, to the second. */
export function dateTimeOf(ts: string): string {
  const d = dateOf(ts);
  return d ? d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium', hour12: false }) : ts;
}

/** How a container that is not running ended, where known, beside its
 * state's badge: "exited with code 3 · ended 22 Nov 2026, 10:05:00". */
export function endedText(c: Pick<Container, 'state' | 'exitCode' | 'endedAt'>): string | null {
  if (c.state !== 'removed' && c.state !== 'exited' && c.state !== 'dead') return null;
  const parts: string[] = [];
  if (c.exitCode !== undefined && c.exitCode !== null) parts.push(`exited with code ${c.exitCode}`);
  if (c.endedAt) parts.push(`ended ${dateTimeOf(c.endedAt)}`);
  return parts.length ? parts.join(' · ') : null;
}

/** How long before `now` a time was, roughly: "just now", "4 s ago",
 * "12 min ago", "3 h ago", "2 d ago". `now`: the dashboard snapshot's own
 * time, so a skewed browser clock does not shift it. */
export function ago(ts: string, now: string | Date = new Date()): string {
  const d = dateOf(ts);
  const n = typeof now === 'string' ? dateOf(now) : now;
  if (!d || !n) return ts;
  const s = Math.max(0, Math.round((n.getTime() - d.getTime()) / 1000));
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

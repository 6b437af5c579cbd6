// The dashboard's course filter. Each dashboard row says which courses it
// counts for (its course label's, or those of the instructor's courses its
// owner is enrolled in); a row that counts for none is a row of "All" only
// (an unlabelled container of an admin's, or while no course exists).

import type { DashboardRow, SearchHit } from './types';

type Counted = Pick<DashboardRow, 'courses'>;

/** The courses to pick from, sorted: those the rows count for, the user's
 * own (an instructor's course with no container yet), and the one picked
 * (an address naming a course no row counts for any more). */
export function courseChoices(rows: readonly Counted[], mine: readonly string[] = [], picked?: string): string[] {
  const all = new Set<string>(mine);
  for (const r of rows) for (const c of r.courses) all.add(c);
  if (picked) all.add(picked);
  return [...all].sort((a, b) => a.localeCompare(b));
}

/** Whether a row shows under `course` (undefined: every course). */
export function inCourse(row: Counted, course: string | undefined): boolean {
  return course === undefined || row.courses.includes(course);
}

/** The students whose containers show under `course`. */
export function ownersIn(rows: readonly Pick<DashboardRow, 'courses' | 'owner'>[], course: string | undefined): Set<string> {
  const owners = new Set<string>();
  for (const r of rows) if (r.owner !== null && inCourse(r, course)) owners.add(r.owner);
  return owners;
}

/**
 * A class search's hits narrowed to the students a course's view shows.
 * The search API knows no course, so this goes by owner: a hit is kept when
 * its owner has a container under the course on the dashboard (a student
 * in two courses shows with all their containers; one whose containers are
 * all removed is not on the dashboard, so not kept). `owners` null: no
 * filter.
 */
export function narrowHits(hits: readonly SearchHit[], owners: ReadonlySet<string> | null): { shown: SearchHit[]; hidden: number } {
  if (!owners) return { shown: [...hits], hidden: 0 };
  const shown = hits.filter((h) => owners.has(h.owner));
  return { shown, hidden: hits.length - shown.length };
}

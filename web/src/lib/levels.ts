// Log levels (docs/attention.md, "Log levels"): the server marks each line
// whose text says one (`lines[].level`); the viewer colours those lines and
// can show only the serious ones.

import type { LineLevel } from './types';

/** The viewer's level filter: every line, warnings and errors, errors only. */
export type LevelFilter = 'all' | 'warn' | 'error';

export const LEVEL_FILTERS: readonly { value: LevelFilter; label: string }[] = [
  { value: 'all', label: 'All levels' },
  { value: 'warn', label: 'Warnings and errors' },
  { value: 'error', label: 'Errors only' },
];

const RANK: Record<LineLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** Whether a line of this level (undefined: its text says none) shows under
 * the filter. A line that says no level is not a warning: only "All" shows
 * it. */
export function passesLevel(level: LineLevel | undefined, filter: LevelFilter): boolean {
  if (filter === 'all') return true;
  if (level === undefined) return false;
  return RANK[level] <= RANK[filter];
}

/** The short tag a line's level shows as. */
export const LEVEL_TAG: Record<LineLevel, string> = { error: 'ERR', warn: 'WRN', info: 'INF', debug: 'DBG' };


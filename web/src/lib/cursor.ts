// What a cursor says about its line: `<19 digits of nanoseconds since the
// epoch>-<stream><ordinal>` (docs/protocol.md, "Cursors"). The first part is
// Docker's own timestamp of the line, so a cursor converts to the very `ts`
// string its line carries, and a row placed by a cursor (a gap, a history
// event) sorts among the lines by the same key they do.

const NANOS = /^(\d{19})-/;

/** Nanoseconds since the epoch, or null for what is not a cursor. */
export function cursorNanos(cursor: string): bigint | null {
  const m = NANOS.exec(cursor);
  return m ? BigInt(m[1]!) : null;
}

/** RFC 3339 UTC with nine fractional digits, as Docker stamps lines. */
export function nanosToTs(ns: bigint): string {
  const ms = ns / 1_000_000n;
  // Floor, also before 1970, so the fraction is never negative.
  const floorMs = ns < 0n && ms * 1_000_000n !== ns ? ms - 1n : ms;
  const iso = new Date(Number(floorMs)).toISOString(); // …T10:00:00.123Z
  const frac = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  return `${iso.slice(0, 19)}.${frac.toString().padStart(9, '0')}Z`;
}

/** The `ts` of the line a cursor names, or null for what is not a cursor. */
export function cursorTs(cursor: string): string | null {
  const ns = cursorNanos(cursor);
  return ns === null ? null : nanosToTs(ns);
}

/** The moment a cursor's line was stamped (millisecond precision). */
export function cursorDate(cursor: string): Date | null {
  const ns = cursorNanos(cursor);
  return ns === null ? null : new Date(Number(ns / 1_000_000n));
}

/** Any RFC 3339 time (as history events and the API give) in the lines'
 * fixed-width form, so it sorts with their `ts`; null if it does not parse. */
export function normaliseTs(rfc3339: string): string | null {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(rfc3339);
  if (!m) return null;
  if (m[3] === 'Z') return `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}Z`;
  const base = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(base)) return null;
  return nanosToTs(BigInt(base) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0')));
}

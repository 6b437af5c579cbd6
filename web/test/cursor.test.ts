import { describe, expect, it } from 'vitest';
import { cursorDate, cursorNanos, cursorTs, nanosToTs, normaliseTs } from '../src/lib/cursor';

describe('cursor → time', () => {
  it('reads the 19 digits of nanoseconds as the line\'s ts', () => {
    // docs/protocol.md's example line.
    expect(cursorTs('1795388680123456789-o000000')).toBe('2026-11-22T23:04:40.123456789Z');
    expect(cursorTs('1795388680223456789-e000000')).toBe('2026-11-22T23:04:40.223456789Z');
    expect(cursorNanos('1796377265809994767-o000000')).toBe(1796377265809994767n);
    expect(cursorDate('1795388680123456789-c000001')!.toISOString()).toBe('2026-11-22T23:04:40.123Z');
  });

  it('accepts labtail 0.1 cursors, refuses what is not a cursor', () => {
    expect(cursorTs('1795388680000000001-3')).toBe('2026-11-22T23:04:40.000000001Z');
    expect(cursorTs('')).toBeNull();
    expect(cursorTs('12345-o000000')).toBeNull();
    expect(cursorTs('not-a-cursor')).toBeNull();
  });

  it('keeps whole seconds and leading zeros of the fraction', () => {
    expect(nanosToTs(1795388680000000000n)).toBe('2026-11-22T23:04:40.000000000Z');
    expect(nanosToTs(1795388680000000007n)).toBe('2026-11-22T23:04:40.000000007Z');
    expect(nanosToTs(0n)).toBe('1970-01-01T00:00:00.000000000Z');
  });

  it('sorts as the lines do: the string order is the time order', () => {
    const a = cursorTs('1795388680999999999-o000000')!;
    const b = cursorTs('1795388681000000000-o000000')!;
    expect(a < b).toBe(true);
  });

  it('normalises any RFC 3339 time to the lines\' fixed width', () => {
    expect(normaliseTs('2026-11-22T23:04:40Z')).toBe('2026-11-22T23:04:40.000000000Z');
    expect(normaliseTs('2026-11-22T23:04:40.5Z')).toBe('2026-11-22T23:04:40.500000000Z');
    expect(normaliseTs('2026-11-23T00:04:40.123456789+01:00')).toBe('2026-11-22T23:04:40.123456789Z');
    expect(normaliseTs('yesterday')).toBeNull();
  });
});

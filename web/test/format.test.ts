import { describe, expect, it } from 'vitest';
import { ago, dateOf, endedText } from '../src/components/format';

describe('how a container ended', () => {
  it('says the exit code and when, for one that is not running', () => {
    expect(endedText({ state: 'removed', exitCode: 3, endedAt: '2026-11-22T10:05:00.123456789Z' }))
      .toMatch(/^exited with code 3 · ended .+/);
    expect(endedText({ state: 'exited', exitCode: 0 })).toBe('exited with code 0');
    // Removed before history knew how it ended: the badge says it all.
    expect(endedText({ state: 'removed' })).toBeNull();
    expect(endedText({ state: 'running', exitCode: 1 })).toBeNull();
  });

  it('reads RFC 3339 with nine fractional digits', () => {
    expect(dateOf('2026-11-22T10:05:00.123456789Z')!.toISOString()).toBe('2026-11-22T10:05:00.123Z');
    expect(dateOf('2026-11-22T11:05:00+01:00')!.toISOString()).toBe('2026-11-22T10:05:00.000Z');
    expect(dateOf('yesterday')).toBeNull();
  });

  it('says how long ago, against the snapshot\'s time', () => {
    const now = '2026-12-04T10:10:00.000000000Z';
    expect(ago('2026-12-04T10:09:59.500Z', now)).toBe('just now');
    expect(ago('2026-12-04T10:09:30Z', now)).toBe('30 s ago');
    expect(ago('2026-12-04T10:00:00Z', now)).toBe('10 min ago');
    expect(ago('2026-12-04T07:00:00Z', now)).toBe('3 h ago');
    expect(ago('2026-12-01T10:00:00Z', now)).toBe('3 d ago');
    // A clock behind the event's: not "in the future".
    expect(ago('2026-12-04T10:10:05Z', now)).toBe('just now');
  });
});

import { describe, expect, it } from 'vitest';
import { dateOf, endedText } from '../src/components/format';

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
});

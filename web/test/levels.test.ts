import { describe, expect, it } from 'vitest';
import { passesLevel } from '../src/lib/levels';
import { clickLine, handCursor } from '../src/lib/selection';

describe('the level filter', () => {
  it('shows everything, warnings and errors, or errors only', () => {
    const levels = ['error', 'warn', 'info', 'debug', undefined] as const;
    expect(levels.filter((l) => passesLevel(l, 'all'))).toEqual(levels);
    expect(levels.filter((l) => passesLevel(l, 'warn'))).toEqual(['error', 'warn']);
    expect(levels.filter((l) => passesLevel(l, 'error'))).toEqual(['error']);
  });
});

describe('selecting lines', () => {
  const order = ['c1', 'c2', 'c3', 'c4', 'c5'];
  it('a click selects one line; the same click again clears it', () => {
    const s = clickLine(null, 'web', 'c2', false, order);
    expect(s).toEqual({ container: 'web', anchor: 'c2', cursors: ['c2'] });
    expect(clickLine(s, 'web', 'c2', false, order)).toBeNull();
    expect(clickLine(s, 'web', 'c4', false, order)?.cursors).toEqual(['c4']);
  });

  it('a shift-click selects the range from the first line clicked, either way', () => {
    const s = clickLine(null, 'web', 'c2', false, order);
    const down = clickLine(s, 'web', 'c4', true, order)!;
    expect(down.cursors).toEqual(['c2', 'c3', 'c4']);
    const up = clickLine(down, 'web', 'c1', true, order)!;
    expect(up.cursors).toEqual(['c1', 'c2']);
    expect(handCursor(down)).toBe('c4');
    expect(handCursor(up)).toBe('c2');
  });

  it('a range stays within one container; a shift-click elsewhere starts again', () => {
    const s = clickLine(null, 'web', 'c2', false, order);
    expect(clickLine(s, 'db', 'c4', true, order)).toEqual({ container: 'db', anchor: 'c4', cursors: ['c4'] });
    // The first line left the view (evicted): a single line again.
    expect(clickLine({ container: 'web', anchor: 'gone', cursors: ['gone'] }, 'web', 'c3', true, order)?.cursors).toEqual(['c3']);
  });
});

// Lines the reader selected in the viewer (to ask for help about them): a
// click selects one line, a shift-click extends from the last clicked line
// to this one (within one container: a range of a merged view's other
// container's lines would mean nothing), clicking the only selected line
// again clears it.

export interface Selection {
  container: string;
  /** The line clicked first (a shift-click extends from it). */
  anchor: string;
  /** The selected lines' cursors, in the view's order. */
  cursors: string[];
}

/**
 * The selection after a click on line `cursor` of `container`. `order`:
 * the cursors of that container's lines as the view shows them (top to
 * bottom), for a range.
 */
export function clickLine(sel: Selection | null, container: string, cursor: string, shift: boolean, order: readonly string[]): Selection | null {
  if (shift && sel && sel.container === container) {
    const a = order.indexOf(sel.anchor);
    const b = order.indexOf(cursor);
    if (a >= 0 && b >= 0) {
      const [from, to] = a <= b ? [a, b] : [b, a];
      return { container, anchor: sel.anchor, cursors: order.slice(from, to + 1) };
    }
  }
  if (sel && sel.container === container && sel.cursors.length === 1 && sel.cursors[0] === cursor) return null;
  return { container, anchor: cursor, cursors: [cursor] };
}

/** The line a hand is raised on: the last one selected (where a trace or an
 * error usually ends); the server adds its neighbours. */
export function handCursor(sel: Selection): string | undefined {
  return sel.cursors.at(-1);
}

import { describe, expect, it } from 'vitest';
import {
  checklistsPending, entryInCourse, handLine, newAlerts, notificationOf, panelEntries, progress, settleLocal, shouldNotify,
} from '../src/lib/attention';
import type { AttentionEntry } from '../src/lib/types';

let next = 1;
const entry = (o: Partial<AttentionEntry>): AttentionEntry => ({
  id: next++, signal: 'crashed', severity: 'error', owner: 'amy', containerName: 'amy-1', title: 'exited with code 3',
  firstAt: '2026-12-04T10:00:01.500000000Z', lastAt: '2026-12-04T10:00:01.500000000Z', count: 1, evidence: [], state: 'open', ...o,
});

const rows = [
  { name: 'amy-1', owner: 'amy', courses: ['NET101'] },
  { name: 'amy-2', owner: 'amy', courses: ['SEC201'] },
  { name: 'ben-1', owner: 'ben', courses: ['NET101', 'SEC201'] },
  { name: 'dan-1', owner: 'dan', courses: [] },
];

describe('the attention panel', () => {
  it('narrows entries to a course by their container\'s row, else their course label, else their student', () => {
    expect(entryInCourse(entry({}), rows, undefined)).toBe(true);
    expect(entryInCourse(entry({ containerName: 'amy-1' }), rows, 'NET101')).toBe(true);
    expect(entryInCourse(entry({ containerName: 'amy-2' }), rows, 'NET101')).toBe(false);
    // A row's courses decide, not the label the entry carries.
    expect(entryInCourse(entry({ containerName: 'amy-2', course: 'NET101' }), rows, 'NET101')).toBe(false);
    // Not on the dashboard (removed): its course label…
    expect(entryInCourse(entry({ containerName: 'gone', course: 'SEC201' }), rows, 'SEC201')).toBe(true);
    expect(entryInCourse(entry({ containerName: 'gone', course: 'SEC201' }), rows, 'NET101')).toBe(false);
    // …or, without one, whether its student shows under the course.
    expect(entryInCourse(entry({ containerName: 'gone', owner: 'ben' }), rows, 'SEC201')).toBe(true);
    expect(entryInCourse(entry({ containerName: 'gone', owner: 'dan' }), rows, 'SEC201')).toBe(false);
    // A row of no course shows under All only.
    expect(entryInCourse(entry({ containerName: 'dan-1', owner: 'dan' }), rows, 'NET101')).toBe(false);
  });

  it('shows open entries first, most urgent first in the server\'s order, then the acknowledged ones', () => {
    const a = entry({ severity: 'warning', signal: 'hand' });
    const b = entry({ severity: 'error', state: 'acknowledged' });
    const c = entry({ severity: 'info', signal: 'silent' });
    const d = entry({ severity: 'error' });
    const e = entry({ severity: 'error', containerName: 'amy-2' });
    const f = entry({ severity: 'warning', containerName: 'ben-1', owner: 'ben' });
    const { open, acknowledged, hidden } = panelEntries([d, e, a, f, b, c], rows, undefined);
    expect(open.map((x) => x.id)).toEqual([d.id, e.id, a.id, f.id, c.id]);
    expect(acknowledged.map((x) => x.id)).toEqual([b.id]);
    expect(hidden).toBe(0);
    // Out of order from the server: still by severity, ties as sent.
    expect(panelEntries([c, a, d], rows, undefined).open.map((x) => x.id)).toEqual([d.id, a.id, c.id]);
    const net = panelEntries([d, e, a, f, b, c], rows, 'NET101');
    expect(net.open.map((x) => x.id)).toEqual([d.id, a.id, f.id, c.id]);
    expect(net.hidden).toBe(1);
  });

  it('treats what this page acknowledged or dismissed so until a snapshot agrees', () => {
    const a = entry({});
    const b = entry({ severity: 'warning' });
    const local = new Map([[a.id, 'acknowledged' as const], [b.id, 'dismissed' as const]]);
    const shown = panelEntries([a, b], rows, undefined, local);
    expect(shown.open).toEqual([]);
    expect(shown.acknowledged.map((x) => [x.id, x.state])).toEqual([[a.id, 'acknowledged']]);
    // The server's list still has both as they were: kept.
    expect([...settleLocal(local, [a, b]).keys()]).toEqual([a.id, b.id]);
    // It acknowledged a, and b left the list: nothing left to remember.
    expect(settleLocal(local, [{ ...a, state: 'acknowledged' }]).size).toBe(0);
  });

  it('finds the line a hand was raised on among its neighbours', () => {
    const ev = (ts: string, text: string) => ({ cursor: `${text}-c`, ts, stream: 'stdout', text });
    const hand = entry({
      signal: 'hand', severity: 'warning', firstAt: '2026-12-04T10:00:02.25Z',
      evidence: [ev('2026-12-04T10:00:01.000000000Z', 'step 3'), ev('2026-12-04T10:00:02.250000000Z', 'step 4'), ev('2026-12-04T10:00:03.000000000Z', 'step 5')],
    });
    expect(handLine(hand)?.text).toBe('step 4');
    expect(handLine({ ...hand, signal: 'rule' })).toBeUndefined();
    expect(handLine({ ...hand, firstAt: 'later' })).toBeUndefined();
  });
});

describe('notifications', () => {
  it('tells of new open errors and warnings only, and nothing of the list as the page opened', () => {
    const a = entry({});
    const b = entry({ severity: 'info', signal: 'silent' });
    const first = newAlerts(null, [a, b]);
    expect(first.fresh).toEqual([]);
    const c = entry({ severity: 'warning', signal: 'hand' });
    const d = entry({ severity: 'info', signal: 'silent' });
    const e = entry({ state: 'acknowledged' });
    const second = newAlerts(first.seen, [a, b, c, d, e]);
    expect(second.fresh.map((x) => x.id)).toEqual([c.id]);
    // Once told, never again; an entry that comes back after leaving is not new.
    expect(newAlerts(second.seen, [c]).fresh).toEqual([]);
    expect(newAlerts(second.seen, [a, c]).fresh).toEqual([]);
  });

  it('notifies only when turned on, allowed, and the tab is hidden', () => {
    expect(shouldNotify({ enabled: true, permission: 'granted', hidden: true })).toBe(true);
    expect(shouldNotify({ enabled: true, permission: 'granted', hidden: false })).toBe(false);
    expect(shouldNotify({ enabled: false, permission: 'granted', hidden: true })).toBe(false);
    expect(shouldNotify({ enabled: true, permission: 'default', hidden: true })).toBe(false);
    expect(shouldNotify({ enabled: true, permission: 'denied', hidden: true })).toBe(false);
    expect(shouldNotify({ enabled: true, permission: 'unsupported', hidden: true })).toBe(false);
  });

  it('says who and what, never a log line', () => {
    const n = notificationOf(entry({ signal: 'hand', severity: 'warning', title: 'raised a hand', evidence: [{ cursor: 'x', ts: 'y', stream: 'stdout', text: 'SECRET' }] }));
    expect(n).toEqual({ title: '[warning] amy: Raised hand', body: 'raised a hand (amy-1)' });
  });
});

describe('checklists', () => {
  it('count what is reached', () => {
    expect(progress(undefined)).toBeNull();
    expect(progress([])).toBeNull();
    expect(progress([{ name: 'a', reachedAt: '2026-12-04T10:00:00Z', cursor: 'c' }, { name: 'b' }, { name: 'c' }]))
      .toEqual({ reached: 1, total: 3, text: '1/3', done: false });
    expect(progress([{ name: 'a', reachedAt: '2026-12-04T10:00:00Z' }])?.done).toBe(true);
  });

  it('are read again only while a running container has one in progress', () => {
    expect(checklistsPending([{ state: 'running' }])).toBe(false);
    expect(checklistsPending([{ state: 'running', checkpoints: [{ name: 'a' }] }])).toBe(true);
    expect(checklistsPending([{ state: 'exited', checkpoints: [{ name: 'a' }] }])).toBe(false);
    expect(checklistsPending([{ state: 'running', checkpoints: [{ name: 'a', reachedAt: 'x' }] }])).toBe(false);
  });
});

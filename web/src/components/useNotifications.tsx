// Browser notifications of new attention entries: off until the instructor
// turns them on (remembered in this browser), and then only for a new
// entry of severity error or warning while the tab is not being looked at.
// A notification says who and what, never a log line; a click on it brings
// the tab forward at that entry.

import { useEffect, useRef, useState, type ReactNode } from 'react';
import { entryInCourse, newAlerts, notificationOf, shouldNotify } from '../lib/attention';
import type { AttentionEntry, DashboardRow } from '../lib/types';
import { navigate } from '../router';

const KEY = 'labtail.notify';
/** At most this many notifications for one snapshot; a summary beyond. */
const MAX_AT_ONCE = 3;

type Permission = NotificationPermission | 'unsupported';

const permissionNow = (): Permission => (typeof Notification === 'undefined' ? 'unsupported' : Notification.permission);

export function useNotifications(entries: readonly AttentionEntry[] | undefined, rows: readonly DashboardRow[], course: string | undefined): ReactNode {
  const [enabled, setEnabled] = useState(() => localStorage.getItem(KEY) === 'on');
  const [permission, setPermission] = useState<Permission>(permissionNow);
  const seen = useRef<Set<number> | null>(null);
  const live = useRef({ enabled, permission, rows, course });
  live.current = { enabled, permission, rows, course };

  useEffect(() => {
    if (!entries) return;
    const { fresh, seen: now } = newAlerts(seen.current, entries);
    seen.current = now;
    const { enabled: on, permission: p, rows: rs, course: c } = live.current;
    if (!shouldNotify({ enabled: on, permission: p, hidden: document.visibilityState === 'hidden' })) return;
    const shown = fresh.filter((e) => entryInCourse(e, rs, c));
    for (const e of shown.slice(0, MAX_AT_ONCE)) {
      const { title, body } = notificationOf(e);
      try {
        const n = new Notification(title, { body, tag: `labtail-attention-${e.id}` });
        n.onclick = () => {
          window.focus();
          navigate({ page: 'dashboard', course: c, attention: e.id });
          n.close();
        };
      } catch {
        // Some browsers only notify from a service worker: nothing to do.
      }
    }
    if (shown.length > MAX_AT_ONCE) {
      try {
        new Notification(`labtail: ${shown.length - MAX_AT_ONCE} more need attention`, { tag: 'labtail-attention-more' });
      } catch {
        // As above.
      }
    }
  }, [entries]);

  const toggle = async (on: boolean) => {
    if (!on) {
      setEnabled(false);
      localStorage.setItem(KEY, 'off');
      return;
    }
    let p = permissionNow();
    if (p === 'default') {
      try {
        p = await Notification.requestPermission();
      } catch {
        p = permissionNow();
      }
    }
    setPermission(p);
    setEnabled(p === 'granted');
    localStorage.setItem(KEY, p === 'granted' ? 'on' : 'off');
  };

  const note = permission === 'unsupported'
    ? 'This browser cannot show notifications'
    : permission === 'denied'
      ? 'Notifications are blocked for this site in the browser\'s settings'
      : 'Notify me of new errors and warnings while this tab is in the background';
  return (
    <label className="chip notify-toggle" title={note}>
      <input
        type="checkbox"
        data-testid="notify-toggle"
        checked={enabled && permission === 'granted'}
        disabled={permission === 'unsupported' || permission === 'denied'}
        onChange={(e) => void toggle(e.target.checked)}
      />
      Browser notifications
      {permission === 'denied' && <small className="muted"> (blocked)</small>}
    </label>
  );
}

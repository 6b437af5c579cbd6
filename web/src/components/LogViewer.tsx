// The log viewer: one container, or several merged in time order. A window
// onto their history (logwindow.ts): scrolling to the top of what is loaded
// loads the page before it, a time or a permalink opens the page there, and
// the live end is followed whenever the window reaches it. A container the
// user may no longer see ends its view with a final notice (a merged view
// drops it and goes on with the others).
//
// Lines carry their level where their text says one: coloured, and
// filtered (all, warnings and errors, errors only). A student selects lines
// of their own container (a click; shift-click for a range) and asks for
// help about them (`raise-hand` on the last one); the instructor's answer
// shows at the top of the view.

import { useEffect, useLayoutEffect, useMemo, useRef, useState, type FormEvent, type MouseEvent } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import { parseAnsi, plainText, type Segment } from '../lib/ansi';
import { downloadUrl } from '../lib/api';
import type { LabtailClient } from '../lib/client';
import { exportUrl } from '../lib/history';
import { LEVEL_FILTERS, LEVEL_TAG, passesLevel, type LevelFilter } from '../lib/levels';
import type { Row } from '../lib/logbuffer';
import { clickLine, handCursor, type Selection } from '../lib/selection';
import type { Stream } from '../lib/types';
import { REVOKED_TEXT } from '../lib/logwindow';
import { useLogStream, type ContainerState } from '../lib/useLogStream';
import { href, replaceRoute } from '../router';
import { Checklist } from './Checklist';
import { ownerColour } from './colours';
import { endedText, timeOf } from './format';
import { HandNotices, useHands } from './HandNotices';
import { HistorySearch } from './HistorySearch';
import { LineText } from './LogText';
import { lookup, type Containers } from './useContainers';

const MAX_LINES = 50_000;
const TAIL = 1000;
/** How near an end of what is loaded (px) the next page is asked for. */
const EDGE_PX = 400;
/** Longest message a raised hand takes (the server's bound). */
const MAX_HAND_MESSAGE = 1000;

interface Props {
  client: LabtailClient;
  /** What the route asked for: names, IDs or ID prefixes. */
  containers: string[];
  /** The containers this user may see. */
  known: Containers;
  /** A line's cursor (a permalink): the view opens there. */
  at?: string;
  /** Who is looking: a container of theirs offers "Ask for help". */
  username?: string;
}

/** The container a view shows: after a rename by its new name, else as asked. */
function identify(known: Containers, asked: string, state: ContainerState | undefined) {
  return (state?.renamedTo ? lookup(known, state.renamedTo) : undefined)
    ?? lookup(known, asked)
    ?? (state?.served ? lookup(known, state.served) : undefined);
}

/** Which container a view shows: name, owner, image, ID and state, and how
 * it ended, so an instructor going from student to student always knows
 * whose log this is. */
function ContainerHeader({ asked, known, state, status }: {
  asked: string;
  known: Containers;
  state: ContainerState | undefined;
  status: string;
}) {
  const c = identify(known, asked, state);
  const name = state?.served ?? c?.name ?? asked;
  const ended = c && endedText({ ...c, state: (state?.state as typeof c.state | undefined) ?? c.state, exitCode: state?.exitCode ?? c.exitCode });
  return (
    <div className="viewer-head" data-testid="viewer-head">
      <h1 className="viewer-title" data-testid="viewer-name">{name}</h1>
      {c?.owner && (
        <span className="viewer-owner" data-testid="viewer-owner">
          <span className="swatch" style={{ background: ownerColour(c.owner) }} aria-hidden />
          {c.owner}
        </span>
      )}
      {c && <span className="muted small" data-testid="viewer-image">{c.image} · {c.id}</span>}
      <span className={`state state-${state?.state ?? c?.state ?? 'connecting'}`} data-testid="stream-state">{status}</span>
      {ended && <span className="muted small" data-testid="viewer-ended">{ended}</span>}
      {c?.checkpoints && c.checkpoints.length > 0 && (
        <span className="viewer-checklist"><Checklist container={name} checkpoints={c.checkpoints} label={c.lab ? `Lab ${c.lab}` : 'Checklist'} /></span>
      )}
    </div>
  );
}

/** A local date-time input's value ("2026-11-22T10:05:30") as RFC 3339. */
function localToRfc3339(v: string): string | null {
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** Ask for help about the selected lines: a short message, sent as a raised
 * hand on the last of them. */
function HandForm({ lines, onSend, onCancel }: {
  lines: number;
  onSend: (message: string) => Promise<string | null>;
  onCancel: () => void;
}) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (busy || !text.trim()) return;
    setBusy(true);
    setError('');
    const failed = await onSend(text.trim());
    setBusy(false);
    if (failed) setError(failed);
  };
  return (
    <form className="hand-form" onSubmit={submit} aria-label="Ask for help" data-testid="hand-form">
      <label>
        What do you need help with? <span className="muted small">(an instructor sees {lines === 1 ? 'this line' : 'the last selected line'} and the lines around it)</span>
        <textarea
          autoFocus
          rows={3}
          maxLength={MAX_HAND_MESSAGE}
          value={text}
          onChange={(e) => setText(e.target.value)}
          placeholder="e.g. Why does my server stop here?"
          onKeyDown={(e) => {
            if (e.key === 'Escape') onCancel();
            if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void submit(e);
          }}
        />
      </label>
      <div className="hand-form-actions">
        <button type="submit" className="primary" disabled={busy || !text.trim()}>{busy ? 'Sending…' : 'Send to an instructor'}</button>
        <button type="button" onClick={onCancel}>Cancel</button>
        <span className="muted small">{MAX_HAND_MESSAGE - text.length} characters left</span>
      </div>
      {error && <p className="error" role="alert" data-testid="hand-error">{error}</p>}
    </form>
  );
}

export function LogViewer({ client, containers, known, at, username }: Props) {
  const merged = containers.length > 1;
  const owners = useMemo(
    () => Object.fromEntries(containers.map((n) => [n, lookup(known, n)?.owner ?? null])),
    [containers, known],
  );
  const ids = useMemo(
    () => Object.fromEntries(containers.map((n) => [n, lookup(known, n)?.id])),
    [containers, known],
  );
  const { win, version } = useLogStream(client, containers, owners, MAX_LINES, TAIL, { at, ids });
  const { buffer, states } = win;

  const [follow, setFollow] = useState(!at);
  const [wrap, setWrap] = useState(false);
  const [showTs, setShowTs] = useState(merged);
  const [streams, setStreams] = useState<Record<Stream, boolean>>({ stdout: true, stderr: true, console: true });
  const [search, setSearch] = useState('');
  const [filterOnly, setFilterOnly] = useState(true);
  const [historyQuery, setHistoryQuery] = useState('');
  const [jumpAt, setJumpAt] = useState('');
  const [copied, setCopied] = useState('');
  const [level, setLevel] = useState<LevelFilter>('all');
  const [sel, setSel] = useState<Selection | null>(null);
  const [asking, setAsking] = useState(false);
  useHands(client.hands);
  const hands = client.hands.forView(containers.flatMap((c) => [c, states[c]?.served ?? c, states[c]?.renamedTo ?? c]));
  const needle = search.trim().toLowerCase();
  const following = follow && win.live;
  const nameOf = (c: string) => states[c]?.served ?? c;

  // A permalink followed in place (a search hit, Back and Forward): the
  // window moves there, or back to the live end.
  const shownAt = useRef(at);
  useEffect(() => {
    if (at === shownAt.current) return;
    shownAt.current = at;
    if (at) void win.openAt(at);
    else {
      setFollow(true);
      void win.goLive();
    }
  }, [at, win]);

  // A rename: the address follows the container's new name.
  const renamedTo = !merged ? states[containers[0]!]?.renamedTo : undefined;
  useEffect(() => {
    if (renamedTo) replaceRoute({ page: 'container', name: renamedTo });
  }, [renamedTo]);

  // Rows to show: buffer indices passing the filters. Parsed text is cached
  // per row so a frame only parses what is new.
  const parsed = useRef(new WeakMap<Row, { segs: Segment[]; plain: string }>());
  const parse = (r: Row & { kind: 'line' }) => {
    let p = parsed.current.get(r);
    if (!p) {
      const segs = parseAnsi(r.line.text);
      p = { segs, plain: segs.map((s) => s.text).join('').toLowerCase() };
      parsed.current.set(r, p);
    }
    return p;
  };
  const { visible, levelled } = useMemo(() => {
    const idx: number[] = [];
    let withLevel = false;
    for (let i = 0; i < buffer.length; i++) {
      const r = buffer.at(i)!;
      if (r.kind === 'line') {
        if (!streams[r.line.stream]) continue;
        if (!passesLevel(r.line.level, level)) continue;
        if (needle && filterOnly && !parse(r).plain.includes(needle)) continue;
        if (r.line.level) withLevel = true;
      }
      idx.push(i);
    }
    return { visible: idx, levelled: withLevel };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [version, buffer, streams, needle, filterOnly, level]);

  const hidden = buffer.dropped;
  // A row above the lines: "load older" with history, or how many earlier
  // lines the view let go without it. A row below them when the window is
  // not live: newer lines are not shown.
  const topRow: 'older' | 'hidden' | null = win.moreBefore ? 'older' : !win.history && hidden > 0 ? 'hidden' : null;
  const bottomRow = !win.live && !win.ended && (buffer.length > 0 || win.busy !== null);
  const offset = topRow ? 1 : 0;
  const count = visible.length + offset + (bottomRow ? 1 : 0);
  const keyAt = (i: number): string => {
    if (i < offset) return 'marker:top';
    if (i >= offset + visible.length) return 'marker:bottom';
    return buffer.at(visible[i - offset]!)?.key ?? `row:${i}`;
  };
  const indexOfKey = (key: string): number => {
    for (let j = 0; j < visible.length; j++) if (buffer.at(visible[j]!)?.key === key) return j + offset;
    return -1;
  };
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => 20,
    overscan: 20,
    getItemKey: keyAt,
  });

  // Where the reader is: the first line in view and how far above the top
  // it starts. When rows come or go in front of it (an older page, the
  // oldest rows evicted), it is put back where it was.
  const anchor = useRef<{ key: string; offset: number } | null>(null);
  const frontKey = useRef<string | undefined>(undefined);
  const focusSeen = useRef(0);
  const lastTop = useRef(0);
  const saveAnchor = () => {
    const el = scrollRef.current;
    if (!el) return;
    const top = el.scrollTop;
    for (const it of virtualizer.getVirtualItems()) {
      if (it.end <= top || String(it.key).startsWith('marker:')) continue;
      anchor.current = { key: String(it.key), offset: it.start - top };
      return;
    }
    anchor.current = null;
  };
  const scrollTo = (el: HTMLDivElement, top: number) => {
    el.scrollTop = top;
    lastTop.current = el.scrollTop;
  };

  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    const front = visible.length ? buffer.at(visible[0]!)?.key : undefined;
    const frontMoved = front !== frontKey.current;
    frontKey.current = front;
    // A jump or a permalink: show its line (centred) or the window's top.
    const f = win.focus;
    if (f && f.seq !== focusSeen.current) {
      const i = f.key ? indexOfKey(f.key) : offset;
      const m = i >= 0 ? virtualizer.measurementsCache[i] : undefined;
      if (m || visible.length === 0) focusSeen.current = f.seq;
      if (m) {
        scrollTo(el, f.key ? m.start - el.clientHeight / 2 + m.size / 2 : m.start);
        anchor.current = { key: keyAt(i), offset: m.start - el.scrollTop };
        if (follow) setFollow(false);
        return;
      }
    }
    // Follow mode: stay at the bottom as lines arrive.
    if (following) {
      scrollTo(el, el.scrollHeight);
      return;
    }
    const a = anchor.current;
    if (frontMoved && a) {
      const i = indexOfKey(a.key);
      const m = i >= 0 ? virtualizer.measurementsCache[i] : undefined;
      if (m) scrollTo(el, m.start - a.offset);
    }
  });

  // Scrolling up (the position moving up, which new lines never cause)
  // pauses following; reaching the bottom of the live end resumes it. Near
  // either end of a window onto history, the next page is loaded.
  const onScroll = () => {
    const el = scrollRef.current;
    if (!el) return;
    const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
    if (el.scrollTop < lastTop.current - 2 && follow && !atBottom) setFollow(false);
    else if (atBottom && !follow && win.live) setFollow(true);
    lastTop.current = el.scrollTop;
    saveAnchor();
    // Not while only matches (or only some levels) show: a filter that
    // hides most lines would page in the whole history looking for more
    // (Search history does that; "Load older lines" still pages on demand).
    if (win.busy || (needle && filterOnly) || level !== 'all') return;
    if (el.scrollTop < EDGE_PX && win.moreBefore) void win.loadOlder();
    else if (!win.live && el.scrollTop + el.clientHeight > el.scrollHeight - EDGE_PX) void win.loadNewer();
  };

  const lastSeen = useRef(0);
  useEffect(() => {
    if (following) lastSeen.current = buffer.received;
  }, [following, version, buffer]);
  const newSince = following ? 0 : buffer.received - lastSeen.current;

  const goLive = () => {
    setFollow(true);
    if (!merged && at) replaceRoute({ page: 'container', name: nameOf(containers[0]!) });
    void win.goLive();
  };

  const jump = () => {
    const t = localToRfc3339(jumpAt);
    if (!t) return;
    setFollow(false);
    void win.jumpTo(t);
  };

  const linesText = (withTs: boolean, onlyVisible: boolean, plain: boolean) => {
    const rows = onlyVisible ? visible.map((i) => buffer.at(i)!) : buffer.toArray();
    const out: string[] = [];
    for (const r of rows) {
      if (r.kind !== 'line') continue;
      const text = plain ? plainText(r.line.text) : r.line.text;
      const prefix = [withTs ? r.line.ts : '', merged ? r.container : '', withTs || merged ? r.line.stream : '']
        .filter(Boolean).join(' ');
      out.push(prefix ? `${prefix} ${text}` : text);
    }
    return out.join('\n') + (out.length ? '\n' : '');
  };

  const flash = (text: string) => {
    setCopied(text);
    setTimeout(() => setCopied(''), 2000);
  };

  const download = () => {
    const blob = new Blob([linesText(showTs, false, false)], { type: 'text/plain;charset=utf-8' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${merged ? 'merged' : nameOf(containers[0]!)}.log`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  };

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(linesText(showTs, true, true));
      flash('Copied');
    } catch {
      flash('Copy was refused by the browser');
    }
  };

  /** A line's address: highlighted, in the address bar (a single view) and
   * copied. */
  const pickLine = (r: Row & { kind: 'line' }) => async (e: MouseEvent) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    const to = { page: 'container' as const, name: nameOf(r.container), at: r.line.cursor };
    win.pick(r.container, r.line.cursor);
    if (!merged) {
      replaceRoute(to);
      shownAt.current = r.line.cursor;
    }
    try {
      await navigator.clipboard.writeText(new URL(href(to), window.location.origin).href);
      flash('Link to the line copied');
    } catch {
      flash(merged ? 'Copying the link was refused by the browser' : 'The line\'s link is in the address bar');
    }
  };

  // Selecting lines, and asking for help about them: a student, on their
  // own container, while history can show the line to an instructor.
  const ownerOf = (c: string) => identify(known, c, states[c])?.owner ?? owners[c] ?? null;
  const canAsk = (c: string) => username !== undefined && ownerOf(c) === username
    && win.historyOf[c] === 'yes' && !win.revoked.includes(c);
  const selected = useMemo(() => new Set(sel?.cursors ?? []), [sel]);
  const onRowClick = (r: Row & { kind: 'line' }) => (e: MouseEvent) => {
    // Lines are selected to ask about them: only where one may.
    if (!canAsk(r.container) || (e.target as Element).closest('a, button')) return;
    // The end of a drag that selected text to copy is not a click on a line.
    const text = window.getSelection();
    if (text && !text.isCollapsed && !e.shiftKey) return;
    if (e.shiftKey) text?.removeAllRanges();
    const order = visible.flatMap((i) => {
      const x = buffer.at(i);
      return x?.kind === 'line' && x.container === r.container ? [x.line.cursor] : [];
    });
    setSel((s) => clickLine(s, r.container, r.line.cursor, e.shiftKey, order));
  };
  const selLine = (cursor: string | undefined) => {
    if (!sel || !cursor) return undefined;
    for (let i = buffer.length - 1; i >= 0; i--) {
      const x = buffer.at(i);
      if (x?.kind === 'line' && x.container === sel.container && x.line.cursor === cursor) return x;
    }
    return undefined;
  };
  const raise = async (message: string): Promise<string | null> => {
    if (!sel) return 'Select a line first.';
    const cursor = handCursor(sel);
    const row = selLine(cursor);
    if (!cursor) return 'Select a line first.';
    const ack = await client.raiseHand(nameOf(sel.container), cursor, message, row ? plainText(row.line.text) : undefined);
    if (!ack.ok) {
      return ack.error.code === 'invalid_payload'
        ? `Could not raise your hand: ${ack.error.message}`
        : `Could not raise your hand (${ack.error.code}): ${ack.error.message}`;
    }
    win.pick(sel.container, cursor);
    setAsking(false);
    setSel(null);
    return null;
  };
  const selectionInView = sel !== null && containers.includes(sel.container);

  const statusOf = (name: string) => {
    const s = states[name];
    if (!s) return lookup(known, name)?.state ?? 'connecting…';
    if (s.error) return s.error;
    if (s.state === 'revoked') return 'no access';
    return s.state === 'exited' ? `exited (${s.exitCode ?? '?'})` : s.state;
  };

  const single = containers[0]!;
  const fullLog = win.historyOf[single] === 'yes'
    ? exportUrl({ container: ids[single] ?? nameOf(single) })
    : downloadUrl(nameOf(single), showTs);

  return (
    <section className="viewer" aria-label={merged ? 'Merged log' : `Log of ${containers[0]}`}>
      {!merged && (
        <ContainerHeader asked={single} known={known} state={states[single]} status={statusOf(single)} />
      )}
      <div className="toolbar" role="toolbar" aria-label="Log view options">
        {merged && (
          <div className="toolbar-group">
            <span className="merged-legend">
              {containers.map((c) => (
                <span key={c} className="legend-item">
                  <span className="swatch" style={{ background: ownerColour(owners[c] ?? c) }} aria-hidden />
                  {nameOf(c)}{owners[c] ? ` · ${owners[c]}` : ''} <small>({statusOf(c)})</small>
                </span>
              ))}
            </span>
          </div>
        )}
        <div className="toolbar-group">
          {(['stdout', 'stderr', 'console'] as Stream[]).map((s) => (
            <label key={s} className={`chip chip-${s}`}>
              <input type="checkbox" checked={streams[s]} onChange={(e) => setStreams({ ...streams, [s]: e.target.checked })} />
              {s}
            </label>
          ))}
        </div>
        <div className="toolbar-group">
          <label className="level-filter">
            <span className="visually-hidden">Level</span>
            <select data-testid="level-filter" value={level} onChange={(e) => setLevel(e.target.value as LevelFilter)}
              title="Show lines by the level their text says (lines that say none show under All levels only)">
              {LEVEL_FILTERS.map((f) => <option key={f.value} value={f.value}>{f.label}</option>)}
            </select>
          </label>
        </div>
        <div className="toolbar-group">
          <form className="search" role="search" onSubmit={(e) => { e.preventDefault(); if (!merged && win.history && search.trim()) setHistoryQuery(search.trim()); }}>
            <label>
              <span className="visually-hidden">Search</span>
              <input type="search" placeholder="Search…" value={search} onChange={(e) => setSearch(e.target.value)} />
            </label>
          </form>
          <label className="chip">
            <input type="checkbox" checked={filterOnly} onChange={(e) => setFilterOnly(e.target.checked)} />
            only matches
          </label>
          {!merged && win.history && (
            <button type="button" disabled={!search.trim()} onClick={() => setHistoryQuery(search.trim())}
              title="Search every line this container wrote, not only those loaded">
              Search history
            </button>
          )}
        </div>
        {win.history && (
          <div className="toolbar-group">
            <label className="jump">
              <span className="visually-hidden">Jump to time</span>
              <input type="datetime-local" step="1" value={jumpAt} onChange={(e) => setJumpAt(e.target.value)} />
            </label>
            <button type="button" disabled={!jumpAt} onClick={jump}>Jump to time</button>
            {!win.live && <button type="button" onClick={goLive}>Live</button>}
          </div>
        )}
        <div className="toolbar-group">
          <button type="button" aria-pressed={showTs} onClick={() => setShowTs(!showTs)}>Timestamps</button>
          <button type="button" aria-pressed={wrap} onClick={() => setWrap(!wrap)}>Wrap</button>
          <button type="button" onClick={copy}>Copy</button>
          <button type="button" onClick={download}>Download loaded</button>
          {!merged && !win.ended && (
            <a className="button" href={fullLog} download
              title={win.historyOf[single] === 'yes' ? 'Every line this container wrote, with its lifecycle (zip)' : 'The log Docker holds'}>
              Full log
            </a>
          )}
        </div>
      </div>
      {win.revoked.length > 0 && (
        <p className="revoked" role="alert" data-testid="revoked">
          {merged
            ? `You no longer have access to ${win.revoked.map(nameOf).join(', ')} (course membership changed): dropped from this view.`
            : `${REVOKED_TEXT}. Its log is no longer followed; what was shown stays until you leave.`}
        </p>
      )}
      <HandNotices hands={hands} book={client.hands} showLine={!merged} />
      {selectionInView && sel && (
        <div className="selection-bar" data-testid="selection-bar">
          <span data-testid="selection-count">{sel.cursors.length === 1 ? '1 line selected' : `${sel.cursors.length} lines selected`}{merged ? ` in ${nameOf(sel.container)}` : ''}</span>
          {canAsk(sel.container) && !asking && (
            <button type="button" className="primary" onClick={() => setAsking(true)}>
              Ask for help
            </button>
          )}
          <button type="button" className="link" onClick={() => { setSel(null); setAsking(false); }}>Clear selection</button>
          {asking && canAsk(sel.container) && (
            <HandForm lines={sel.cursors.length} onSend={raise} onCancel={() => setAsking(false)} />
          )}
        </div>
      )}
      {historyQuery && !merged && !win.ended && (
        <HistorySearch
          query={{ q: historyQuery, container: ids[single] ?? nameOf(single), ignoreCase: true }}
          wide={false}
          onClose={() => setHistoryQuery('')}
        />
      )}
      <div className="viewer-meta" aria-live="polite">
        <span data-testid="line-count">{buffer.lines} lines</span>
        {hidden > 0 && (
          <span data-testid="hidden-count">{hidden.toLocaleString('en')} earlier lines not shown</span>
        )}
        {!win.live && !win.ended && win.busy !== 'live' && <span data-testid="not-live">Viewing history (not live)</span>}
        {win.busy && win.busy !== 'live' && <span aria-busy="true">Loading…</span>}
        {win.error && <span className="error" role="alert">{win.error}</span>}
        {copied && <span>{copied}</span>}
        {!sel && containers.some(canAsk) && (
          <span className="hint" data-testid="hand-hint">Stuck? Click a line (shift-click for more) to ask an instructor about it.</span>
        )}
      </div>
      <div
        ref={scrollRef}
        className={`log ${wrap ? 'wrap' : 'nowrap'}${containers.some(canAsk) ? ' selectable' : ''}`}
        onScroll={onScroll}
        role="log"
        aria-live="off"
        tabIndex={0}
        data-testid="log"
      >
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative', width: '100%' }}>
          {virtualizer.getVirtualItems().map((item) => {
            const common = {
              key: item.key as string,
              'data-index': item.index,
              ref: virtualizer.measureElement,
              className: 'row',
              style: { transform: `translateY(${item.start}px)` },
            };
            if (item.index < offset) {
              if (topRow === 'hidden') {
                return <div {...common} className="row marker">{hidden.toLocaleString('en')} earlier lines not shown (the view keeps the newest {MAX_LINES.toLocaleString('en')}; download the full log for all)</div>;
              }
              return (
                <div {...common} className="row marker older" data-testid="load-older">
                  {win.busy === 'older' ? 'Loading older lines…' : (
                    <button type="button" className="link" onClick={() => void win.loadOlder()}>Load older lines</button>
                  )}
                </div>
              );
            }
            if (item.index >= offset + visible.length) {
              return (
                <div {...common} className="row marker newer" data-testid="newer-marker">
                  {win.busy === 'newer' ? 'Loading newer lines…' : (
                    <>
                      Newer lines not shown —{' '}
                      <button type="button" className="link" onClick={() => void win.loadNewer()}>load newer</button>
                      {' · '}
                      <button type="button" className="link" onClick={goLive}>jump to latest</button>
                    </>
                  )}
                </div>
              );
            }
            const r = buffer.at(visible[item.index - offset]!);
            if (!r) return null;
            if (r.kind === 'gap') {
              return (
                <div {...common} className="row marker gap" role="note" data-testid="gap">
                  ⚠ {r.count === null ? 'Earlier lines' : `${r.count.toLocaleString('en')} lines`} missed{merged ? ` in ${nameOf(r.container)}` : ''} (this view fell behind).{' '}
                  <button type="button" className="link" disabled={win.busy !== null} onClick={() => void win.fillGap(r)}>Load them</button>
                </div>
              );
            }
            if (r.kind === 'note') {
              return <div {...common} className={`row marker note-${r.tone}`} data-testid="note">{merged ? `${nameOf(r.container)}: ` : ''}{r.text}</div>;
            }
            const p = parse(r);
            const linked = win.historyOf[r.container] === 'yes' && !win.revoked.includes(r.container);
            const to = { page: 'container' as const, name: nameOf(r.container), at: r.line.cursor };
            const lvl = r.line.level;
            const isSel = sel?.container === r.container && selected.has(r.line.cursor);
            return (
              <div {...common}
                className={`row line stream-${r.line.stream}${lvl ? ` level-${lvl}` : ''}${r.key === win.highlight ? ' highlight' : ''}${isSel ? ' selected' : ''}`}
                data-cursor={r.line.cursor}
                data-level={lvl}
                data-selected={isSel || undefined}
                onClick={onRowClick(r)}>
                {showTs && (linked
                  ? <a className="ts" href={href(to)} onClick={pickLine(r)} title="Link to this line">{timeOf(r.line.ts)}</a>
                  : <span className="ts">{timeOf(r.line.ts)}</span>)}
                {!showTs && linked && (
                  <a className="permalink" href={href(to)} onClick={pickLine(r)} aria-label="Link to this line" title="Link to this line">#</a>
                )}
                {merged && (
                  <span className="src" style={{ borderColor: ownerColour(r.owner ?? r.container) }}>{nameOf(r.container)}</span>
                )}
                <span className="badge" aria-label={r.line.stream}>{r.line.stream === 'stderr' ? 'err' : r.line.stream === 'stdout' ? 'out' : 'tty'}</span>
                {levelled && (
                  <span className={`lvl${lvl ? ` lvl-${lvl}` : ''}`} aria-label={lvl ? `level ${lvl}` : undefined}>{lvl ? LEVEL_TAG[lvl] : ''}</span>
                )}
                <span className="text"><LineText segments={p.segs} needle={needle} /></span>
                {r.line.truncated ? <span className="cut" title={`${r.line.truncated} bytes cut`}>…</span> : null}
              </div>
            );
          })}
        </div>
      </div>
      {!following && !win.ended && (
        win.live ? (
          <button type="button" className="follow" onClick={() => setFollow(true)}>
            Follow{newSince > 0 ? ` (${newSince.toLocaleString()} new)` : ''} ↓
          </button>
        ) : (
          <button type="button" className="follow" onClick={goLive}>Jump to latest ↓</button>
        )
      )}
    </section>
  );
}

// The log viewer: one container, or several merged in time order.

import { useEffect, useLayoutEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import { parseAnsi, plainText, type Segment, type Style } from '../lib/ansi';
import { downloadUrl } from '../lib/api';
import type { LabtailClient } from '../lib/client';
import type { Row } from '../lib/logbuffer';
import type { Stream } from '../lib/types';
import { useLogStream, type ContainerState } from '../lib/useLogStream';
import { ownerColour } from './colours';
import { lookup, type Containers } from './useContainers';

const MAX_LINES = 50_000;
const TAIL = 1000;

interface Props {
  client: LabtailClient;
  /** What the route asked for: names, IDs or ID prefixes. */
  containers: string[];
  /** The containers this user may see, by name. */
  known: Containers;
}

function styleOf(s: Style): { className: string; style?: React.CSSProperties } {
  const cls: string[] = [];
  const css: React.CSSProperties = {};
  // Inverse video swaps the colours; an unset one stands for the theme's
  // own foreground or background.
  const fg = s.inverse ? (s.bg ?? 'bg') : s.fg;
  const bg = s.inverse ? (s.fg ?? 'fg') : s.bg;
  // Palette colours are classes (themed, contrast-checked); 256-colour and
  // true-colour values are numbers from the parser, never log text.
  const put = (v: number | [number, number, number] | 'fg' | 'bg' | undefined, kind: 'fg' | 'bg') => {
    if (v === undefined) return;
    if (typeof v === 'number' || typeof v === 'string') {
      cls.push(`ansi-${kind}-${v}`);
    } else {
      const color = `rgb(${v[0] | 0}, ${v[1] | 0}, ${v[2] | 0})`;
      if (kind === 'fg') css.color = color;
      else css.backgroundColor = color;
    }
  };
  put(fg, 'fg');
  put(bg, 'bg');
  if (s.bold) cls.push('ansi-bold');
  if (s.dim) cls.push('ansi-dim');
  if (s.italic) cls.push('ansi-italic');
  if (s.underline) cls.push('ansi-underline');
  return { className: cls.join(' '), style: Object.keys(css).length ? css : undefined };
}

/** Text with the search term marked; all as React text nodes. */
function highlight(text: string, needle: string, key: string): ReactNode {
  if (!needle) return text;
  const out: ReactNode[] = [];
  const lower = text.toLowerCase();
  let from = 0;
  let n = 0;
  for (;;) {
    const at = lower.indexOf(needle, from);
    if (at < 0) break;
    if (at > from) out.push(text.slice(from, at));
    out.push(<mark key={`${key}-${n++}`}>{text.slice(at, at + needle.length)}</mark>);
    from = at + needle.length;
  }
  out.push(text.slice(from));
  return out;
}

function LineText({ segments, needle }: { segments: Segment[]; needle: string }) {
  return (
    <>
      {segments.map((seg, i) => {
        const { className, style } = styleOf(seg.style);
        const body = highlight(seg.text, needle, String(i));
        return className || style ? <span key={i} className={className} style={style}>{body}</span> : <span key={i}>{body}</span>;
      })}
    </>
  );
}

const timeOf = (ts: string) => {
  // "2026-11-22T10:00:00.123456789Z" → local "10:00:00.123"
  const d = new Date(`${ts.slice(0, 23)}Z`);
  if (Number.isNaN(d.getTime())) return ts;
  return `${d.toLocaleTimeString(undefined, { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
};

/** Which container a view shows: name, owner, image, ID and state, so an
 * instructor going from student to student always knows whose log this is. */
function ContainerHeader({ asked, known, state, status }: {
  asked: string;
  known: Containers;
  state: ContainerState | undefined;
  status: string;
}) {
  const c = lookup(known, state?.served ?? asked) ?? lookup(known, asked);
  const name = state?.served ?? c?.name ?? asked;
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
      <span className={`state state-${state?.state ?? 'connecting'}`} data-testid="stream-state">{status}</span>
    </div>
  );
}

export function LogViewer({ client, containers, known }: Props) {
  const merged = containers.length > 1;
  const owners = useMemo(
    () => Object.fromEntries(containers.map((n) => [n, lookup(known, n)?.owner ?? null])),
    [containers, known],
  );
  const stream = useLogStream(client, containers, owners, MAX_LINES, TAIL);
  const { buffer, version, states } = stream;

  const [follow, setFollow] = useState(true);
  const [wrap, setWrap] = useState(false);
  const [showTs, setShowTs] = useState(merged);
  const [streams, setStreams] = useState<Record<Stream, boolean>>({ stdout: true, stderr: true, console: true });
  const [search, setSearch] = useState('');
  const [filterOnly, setFilterOnly] = useState(true);
  const [copied, setCopied] = useState('');
  const needle = search.trim().toLowerCase();

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
  const visible = useMemo(() => {
    const idx: number[] = [];
    for (let i = 0; i < buffer.length; i++) {
      const r = buffer.at(i)!;
      if (r.kind === 'line') {
        if (!streams[r.line.stream]) continue;
        if (needle && filterOnly && !parse(r).plain.includes(needle)) continue;
      }
      idx.push(i);
    }
    return idx;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [version, buffer, streams, needle, filterOnly]);

  const hidden = buffer.dropped;
  const count = visible.length + (hidden > 0 ? 1 : 0);
  const offset = hidden > 0 ? 1 : 0;
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => 20,
    overscan: 20,
    getItemKey: (i) => (i < offset ? 'hidden-marker' : buffer.at(visible[i - offset]!)?.key ?? i),
  });

  // Follow mode: stay at the bottom as lines arrive. Scrolling up (the
  // position moving up, which new lines never cause) pauses it; reaching the
  // bottom again resumes it.
  const lastTop = useRef(0);
  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (follow && el) {
      el.scrollTop = el.scrollHeight;
      lastTop.current = el.scrollTop;
    }
  });
  const onScroll = () => {
    const el = scrollRef.current;
    if (!el) return;
    const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
    if (el.scrollTop < lastTop.current - 2 && follow && !atBottom) setFollow(false);
    else if (atBottom && !follow) setFollow(true);
    lastTop.current = el.scrollTop;
  };
  const lastSeen = useRef(0);
  useEffect(() => {
    if (follow) lastSeen.current = buffer.dropped + buffer.length;
  }, [follow, version, buffer]);
  const newSince = follow ? 0 : buffer.dropped + buffer.length - lastSeen.current;

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

  const download = () => {
    const blob = new Blob([linesText(showTs, false, false)], { type: 'text/plain;charset=utf-8' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${merged ? 'merged' : (states[containers[0]!]?.served ?? containers[0])}.log`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  };

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(linesText(showTs, true, true));
      setCopied('Copied');
    } catch {
      setCopied('Copy was refused by the browser');
    }
    setTimeout(() => setCopied(''), 2000);
  };

  const statusOf = (name: string) => {
    const s = states[name];
    if (!s) return 'connecting…';
    if (s.error) return s.error;
    return s.state === 'exited' ? `exited (${s.exitCode ?? '?'})` : s.state;
  };

  return (
    <section className="viewer" aria-label={merged ? 'Merged log' : `Log of ${containers[0]}`}>
      {!merged && (
        <ContainerHeader asked={containers[0]!} known={known} state={states[containers[0]!]} status={statusOf(containers[0]!)} />
      )}
      <div className="toolbar" role="toolbar" aria-label="Log view options">
        {merged && (
          <div className="toolbar-group">
            <span className="merged-legend">
              {containers.map((c) => (
                <span key={c} className="legend-item">
                  <span className="swatch" style={{ background: ownerColour(owners[c] ?? c) }} aria-hidden />
                  {states[c]?.served ?? c}{owners[c] ? ` · ${owners[c]}` : ''} <small>({statusOf(c)})</small>
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
          <label className="search">
            <span className="visually-hidden">Search</span>
            <input type="search" placeholder="Search…" value={search} onChange={(e) => setSearch(e.target.value)} />
          </label>
          <label className="chip">
            <input type="checkbox" checked={filterOnly} onChange={(e) => setFilterOnly(e.target.checked)} />
            only matches
          </label>
        </div>
        <div className="toolbar-group">
          <button type="button" aria-pressed={showTs} onClick={() => setShowTs(!showTs)}>Timestamps</button>
          <button type="button" aria-pressed={wrap} onClick={() => setWrap(!wrap)}>Wrap</button>
          <button type="button" onClick={copy}>Copy</button>
          <button type="button" onClick={download}>Download loaded</button>
          {!merged && (
            <a className="button" href={downloadUrl(states[containers[0]!]?.served ?? containers[0]!, showTs)} download>Full log</a>
          )}
        </div>
      </div>
      <div className="viewer-meta" aria-live="polite">
        <span data-testid="line-count">{buffer.lines} lines</span>
        {hidden > 0 && (
          <span data-testid="hidden-count">{hidden.toLocaleString('en')} earlier lines not shown</span>
        )}
        {copied && <span>{copied}</span>}
      </div>
      <div
        ref={scrollRef}
        className={`log ${wrap ? 'wrap' : 'nowrap'}`}
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
              return <div {...common} className="row marker">{hidden.toLocaleString('en')} earlier lines not shown (the view keeps the newest {MAX_LINES.toLocaleString('en')}; download the full log for all)</div>;
            }
            const r = buffer.at(visible[item.index - offset]!);
            if (!r) return null;
            if (r.kind === 'gap') {
              return (
                <div {...common} className="row marker gap" role="note">
                  ⚠ {r.count === null ? 'Earlier lines' : `${r.count.toLocaleString()} lines`} missed{merged ? ` in ${r.container}` : ''} (this view fell behind).{' '}
                  <button type="button" className="link" onClick={() => stream.refill(r.container, r.from)}>Load them</button>
                </div>
              );
            }
            if (r.kind === 'note') {
              return <div {...common} className={`row marker note-${r.tone}`}>{merged ? `${r.container}: ` : ''}{r.text}</div>;
            }
            const p = parse(r);
            return (
              <div {...common} className={`row line stream-${r.line.stream}`} data-cursor={r.line.cursor}>
                {showTs && <span className="ts">{timeOf(r.line.ts)}</span>}
                {merged && (
                  <span className="src" style={{ borderColor: ownerColour(r.owner ?? r.container) }}>{r.container}</span>
                )}
                <span className="badge" aria-label={r.line.stream}>{r.line.stream === 'stderr' ? 'err' : r.line.stream === 'stdout' ? 'out' : 'tty'}</span>
                <span className="text"><LineText segments={p.segs} needle={needle} /></span>
                {r.line.truncated ? <span className="cut" title={`${r.line.truncated} bytes cut`}>…</span> : null}
              </div>
            );
          })}
        </div>
      </div>
      {!follow && (
        <button type="button" className="follow" onClick={() => setFollow(true)}>
          Follow{newSince > 0 ? ` (${newSince.toLocaleString()} new)` : ''} ↓
        </button>
      )}
    </section>
  );
}

// The dashboard's attention panel: who needs help now (docs/attention.md),
// live from the dashboard's snapshots, most urgent first, narrowed to the
// course the dashboard shows. Each entry says what happened, to whom, how
// often and when, with the lines that raised it (each a permalink into the
// viewer); an instructor acknowledges it (it stays, dimmed and collapsed,
// for every instructor) or dismisses it, and answers a raised hand.

import { useEffect, useMemo, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { parseAnsi } from '../lib/ansi';
import { handLine, panelEntries, settleLocal, SIGNAL_LABEL, type LocalState } from '../lib/attention';
import type { LabtailClient } from '../lib/client';
import type { AttentionEntry, DashboardRow } from '../lib/types';
import { href, onLink } from '../router';
import { ownerColour } from './colours';
import { ago, dateTimeOf, timeOf } from './format';
import { LineText } from './LogText';

/** The quick answer to a raised hand. */
export const ON_MY_WAY = 'On my way';
const MAX_MESSAGE = 1000;

function Evidence({ entry }: { entry: AttentionEntry }) {
  if (entry.evidence.length === 0) return <p className="muted small">No line to show (it happened outside the log).</p>;
  const raised = handLine(entry);
  return (
    <ol className="evidence" aria-label="Lines that raised it">
      {entry.evidence.map((l) => {
        const to = { page: 'container' as const, name: entry.containerName, at: l.cursor };
        const hand = raised?.cursor === l.cursor;
        return (
          <li key={l.cursor} className={`evidence-line stream-${l.stream}${hand ? ' evidence-hand' : ''}`} data-cursor={l.cursor}>
            <a href={href(to)} onClick={onLink(to)} title={hand ? 'The line the hand was raised on: open it in the log' : 'Open this line in the log'}>
              <span className="ts">{timeOf(l.ts)}</span>
              {hand && <span className="hand-mark" title="the line asked about">?</span>}
              <span className="text"><LineText segments={parseAnsi(l.text)} needle="" /></span>
            </a>
          </li>
        );
      })}
    </ol>
  );
}

function AnswerBox({ entry, client, onSent }: { entry: AttentionEntry; client: LabtailClient; onSent: () => void }) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [sent, setSent] = useState('');
  const send = async (message: string) => {
    const m = message.trim();
    if (!m || busy) return;
    setBusy(true);
    setError('');
    const ack = await client.answerHand(entry.id, m);
    setBusy(false);
    if (ack.ok) {
      setSent(m);
      setText('');
      onSent();
    } else {
      setError(`Could not send the answer: ${ack.error.message}`);
    }
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void send(text);
  };
  return (
    <form className="answer-box" onSubmit={submit} aria-label={`Answer ${entry.owner}`}>
      <label>
        <span className="visually-hidden">Answer to {entry.owner}</span>
        <textarea
          rows={2}
          maxLength={MAX_MESSAGE}
          placeholder={`Answer ${entry.owner}…`}
          value={text}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void send(text); }}
        />
      </label>
      <div className="answer-actions">
        <button type="submit" disabled={busy || !text.trim()}>Send answer</button>
        <button type="button" disabled={busy} onClick={() => void send(ON_MY_WAY)}>{ON_MY_WAY}</button>
        {text.length > MAX_MESSAGE - 100 && <span className="muted small">{MAX_MESSAGE - text.length} characters left</span>}
        {sent && !error && <span className="muted small" role="status">Sent: “{sent}”</span>}
      </div>
      {error && <p className="error" role="alert">{error}</p>}
    </form>
  );
}

function Entry({ entry, now, client, focused, onLocal }: {
  entry: AttentionEntry;
  /** The snapshot's time. */
  now: string;
  client: LabtailClient;
  focused: boolean;
  onLocal: (id: number, s: LocalState) => void;
}) {
  const acked = entry.state === 'acknowledged';
  const [open, setOpen] = useState(!acked || focused);
  // Answering a hand acknowledges it (the server does): the one who just
  // answered keeps it open, to read it back or add to it.
  const [answered, setAnswered] = useState(false);
  // An entry acknowledged (here or elsewhere) folds; one focused opens.
  useEffect(() => { setOpen(!acked || focused || answered); }, [acked, focused, answered]);
  const [busy, setBusy] = useState<'ack' | 'dismiss' | null>(null);
  const [error, setError] = useState('');
  const ref = useRef<HTMLLIElement>(null);
  useEffect(() => {
    if (focused) ref.current?.scrollIntoView({ block: 'center' });
  }, [focused]);

  const act = async (what: 'ack' | 'dismiss') => {
    setBusy(what);
    setError('');
    const ack = what === 'ack' ? await client.ackAttention(entry.id) : await client.dismissAttention(entry.id);
    setBusy(null);
    if (ack.ok) onLocal(entry.id, what === 'ack' ? 'acknowledged' : 'dismissed');
    else setError(`Could not ${what === 'ack' ? 'acknowledge' : 'dismiss'} it: ${ack.error.message}`);
  };

  const container = { page: 'container' as const, name: entry.containerName };
  return (
    <li
      ref={ref}
      className={`attention-entry attn-${entry.severity} entry-${entry.state}${focused ? ' focused' : ''}`}
      data-testid={`attention-${entry.id}`}
      data-signal={entry.signal}
      data-state={entry.state}
      data-container={entry.containerName}
    >
      <div className="entry-head">
        <span className={`sev sev-${entry.severity}`} data-testid="entry-severity">{entry.severity}</span>
        <span className="entry-signal" data-testid="entry-signal">{SIGNAL_LABEL[entry.signal]}</span>
        <strong className="entry-title" data-testid="entry-title">{entry.title}</strong>
        <span className="entry-who">
          <span className="swatch" style={{ background: ownerColour(entry.owner) }} aria-hidden />
          <span data-testid="entry-owner">{entry.owner}</span>
          {' · '}
          <a href={href(container)} onClick={onLink(container)} data-testid="entry-container">{entry.containerName}</a>
          {entry.lab && <span className="muted"> · {entry.lab}</span>}
        </span>
        {entry.count > 1 && <span className="entry-count" title={`${entry.count} times`} data-testid="entry-count">×{entry.count}</span>}
        <span className="entry-when muted small" title={`first ${dateTimeOf(entry.firstAt)} · last ${dateTimeOf(entry.lastAt)}`}>
          {ago(entry.lastAt, now)}
        </span>
        {acked && <span className="entry-acked small" data-testid="entry-acked">acknowledged</span>}
        {acked && (
          <button type="button" className="link small" aria-expanded={open} onClick={() => setOpen(!open)}>
            {open ? 'Fold' : 'Show'}
          </button>
        )}
      </div>
      {entry.message !== undefined && (
        <blockquote className="hand-message" data-testid="hand-message">{entry.message}</blockquote>
      )}
      {entry.answer !== undefined && (
        <p className="hand-answered small" data-testid="hand-answered">Answered: “{entry.answer}”</p>
      )}
      {open && (
        <>
          <Evidence entry={entry} />
          <p className="muted small entry-times">
            First {dateTimeOf(entry.firstAt)}
            {entry.count > 1 ? ` · last ${dateTimeOf(entry.lastAt)} · ${entry.count} times` : ''}
          </p>
          {entry.signal === 'hand' && <AnswerBox entry={entry} client={client} onSent={() => setAnswered(true)} />}
          <div className="entry-actions">
            {!acked && (
              <button type="button" disabled={busy !== null} onClick={() => void act('ack')}
                title="You are seeing to it: it stays, dimmed, for every instructor">
                {busy === 'ack' ? 'Acknowledging…' : 'Acknowledge'}
              </button>
            )}
            <button type="button" disabled={busy !== null} onClick={() => void act('dismiss')}
              title="Done with it: it leaves the list; if it happens again it comes back">
              {busy === 'dismiss' ? 'Dismissing…' : 'Dismiss'}
            </button>
          </div>
        </>
      )}
      {error && <p className="error" role="alert" data-testid="entry-error">{error}</p>}
    </li>
  );
}

export function AttentionPanel({ client, entries, rows, course, now, focus, notify }: {
  client: LabtailClient;
  /** The snapshot's list, most urgent first. */
  entries: readonly AttentionEntry[];
  /** Every dashboard row (for the course filter). */
  rows: readonly DashboardRow[];
  course: string | undefined;
  /** The snapshot's time. */
  now: string;
  /** An entry to show (the address's `?attention=`). */
  focus?: number;
  /** The notifications toggle. */
  notify: ReactNode;
}) {
  const [local, setLocal] = useState<ReadonlyMap<number, LocalState>>(new Map());
  useEffect(() => setLocal((l) => (l.size ? settleLocal(l, entries) : l)), [entries]);
  const onLocal = (id: number, s: LocalState) => setLocal((l) => new Map(l).set(id, s));
  const { open, acknowledged, hidden } = useMemo(() => panelEntries(entries, rows, course, local), [entries, rows, course, local]);
  const focusMissing = focus !== undefined && !open.some((e) => e.id === focus) && !acknowledged.some((e) => e.id === focus);

  return (
    <section className="attention" aria-labelledby="attention-title" data-testid="attention">
      <div className="section-head">
        <h2 id="attention-title">
          Needs attention <span className={`attention-count${open.length ? ' some' : ''}`} data-testid="attention-open-count">{open.length}</span>
        </h2>
        {acknowledged.length > 0 && <span className="muted small">{acknowledged.length} acknowledged</span>}
        {course && hidden > 0 && <span className="muted small" data-testid="attention-hidden">{hidden} more in other courses not shown</span>}
        <span className="attention-tools">{notify}</span>
      </div>
      {focusMissing && (
        <p className="muted small" data-testid="attention-focus-missing">
          Entry {focus} is not in the list{course ? ` under ${course}` : ''}: dismissed, too old, or not one you may see.
        </p>
      )}
      {open.length === 0 && acknowledged.length === 0 ? (
        <p className="muted" data-testid="attention-empty">Nobody needs help right now.</p>
      ) : (
        <ul className="attention-list">
          {/* One list: an entry acknowledged moves down and keeps its state. */}
          {[...open, ...acknowledged].map((e) => (
            <Entry key={e.id} entry={e} now={now} client={client} focused={e.id === focus} onLocal={onLocal} />
          ))}
        </ul>
      )}
    </section>
  );
}

// Results of a search over lab history: each hit a permalink to its line.
// A search stops at its hit limit or its time budget; "More…" goes on from
// where it stopped.

import { useEffect, useRef, useState } from 'react';
import { plainText } from '../lib/ansi';
import { narrowHits } from '../lib/courses';
import { searchHistory, type SearchQuery } from '../lib/history';
import type { SearchHit } from '../lib/types';
import { href, onLink } from '../router';
import { dateTimeOf } from './format';

const PER_PAGE = 100;

/** A course's view of a class search: only its students' hits show (the
 * search API knows no course; see `narrowHits`). */
export interface Narrow {
  course: string;
  owners: ReadonlySet<string>;
}

export function HistorySearch({ query, wide, onClose, narrow }: {
  query: SearchQuery;
  /** Owner and container columns (a search over several containers). */
  wide: boolean;
  onClose?: () => void;
  narrow?: Narrow;
}) {
  const [hits, setHits] = useState<SearchHit[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [timedOut, setTimedOut] = useState(false);
  const [scanned, setScanned] = useState(0);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const abort = useRef<AbortController | null>(null);
  const key = JSON.stringify(query);
  // Narrowed as shown, not as asked: changing the course filter does not
  // search again, and "More…" goes on from where the server stopped.
  const [all, setAll] = useState(false);
  useEffect(() => setAll(false), [narrow?.course, key]);
  const { shown, hidden } = narrowHits(hits, narrow && !all ? narrow.owners : null);

  const run = async (after?: string) => {
    abort.current?.abort();
    const ctl = new AbortController();
    abort.current = ctl;
    setBusy(true);
    setError('');
    try {
      const found = await searchHistory({ limit: PER_PAGE, ...query, after }, ctl.signal);
      if (ctl.signal.aborted) return;
      setHits((h) => (after ? [...h, ...found.hits] : found.hits));
      setNext(found.next);
      setTimedOut(found.timedOut);
      setScanned((n) => (after ? n : 0) + found.scanned);
    } catch (e) {
      if (!ctl.signal.aborted) setError(e instanceof Error ? e.message : String(e));
    } finally {
      if (!ctl.signal.aborted) setBusy(false);
    }
  };

  useEffect(() => {
    setHits([]);
    setNext(null);
    void run();
    return () => abort.current?.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);

  return (
    <section className="history-search" aria-label="History search results" data-testid="history-search">
      <div className="history-search-head">
        <strong>History: “{query.q}”</strong>
        <span className="muted small" aria-live="polite">
          {busy ? 'Searching…' : `${shown.length.toLocaleString('en')} ${shown.length === 1 ? 'match' : 'matches'} in ${scanned.toLocaleString('en')} lines searched`}
        </span>
        {narrow && hidden > 0 && (
          <span className="muted small" data-testid="hits-hidden">
            {hidden.toLocaleString('en')} more of students not shown under {narrow.course}{' '}
            <button type="button" className="link" onClick={() => setAll(true)}>Show them</button>
          </span>
        )}
        {onClose && <button type="button" className="link" onClick={onClose}>Close</button>}
      </div>
      {error && <p className="error" role="alert">Search failed: {error}</p>}
      {shown.length > 0 && (
        <div className="table-wrap history-hits">
          <table>
            <thead>
              <tr>
                {wide && <th scope="col">Student</th>}
                {wide && <th scope="col">Container</th>}
                <th scope="col">Time</th>
                <th scope="col">Line</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((h) => {
                // By ID: a removed container whose name was used again is
                // still the one the hit is in.
                const to = { page: 'container' as const, name: h.containerId, at: h.cursor };
                return (
                  <tr key={`${h.containerId}\u0000${h.cursor}`} className={`hit stream-${h.stream}`}>
                    {wide && <td>{h.owner}</td>}
                    {wide && <td>{h.containerName}</td>}
                    <td className="nowrap"><a href={href(to)} onClick={onLink(to)}>{dateTimeOf(h.ts)}</a></td>
                    <td className="hit-text">{plainText(h.text)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {!busy && !error && shown.length === 0 && <p className="muted">No line matches{hidden > 0 ? ' here' : ''}.</p>}
      {(next || timedOut) && (
        <p className="muted small">
          {timedOut && 'The search stopped at its time limit. '}
          {next && <button type="button" disabled={busy} onClick={() => void run(next)}>More…</button>}
        </p>
      )}
    </section>
  );
}

// A student's raised hands and the answers to them, prominently: "tea: On
// my way". In the viewer, the hands of the containers it shows (and answers
// to hands raised in another tab); elsewhere, every answer not yet closed.

import { useEffect, useState } from 'react';
import type { Hand, HandBook } from '../lib/hands';
import { navigate } from '../router';

/** Re-renders on every change of the hand book; returns its version. */
export function useHands(book: HandBook): number {
  const [v, setV] = useState(book.version);
  useEffect(() => {
    setV(book.version);
    return book.subscribe(() => setV(book.version));
  }, [book]);
  return v;
}

export function HandNotices({ hands, book, showLine = true }: {
  hands: Hand[];
  book: HandBook;
  /** Offer "Show the line" (a permalink to it). */
  showLine?: boolean;
}) {
  if (hands.length === 0) return null;
  return (
    <div className="hands" data-testid="hands">
      {hands.map((h) => {
        const last = h.answers.at(-1);
        return (
          <div key={h.id} className={`hand-notice${last ? ' answered' : ''}`} data-testid={`hand-${h.id}`} data-hand-id={h.id}>
            {last ? (
              <p className="hand-answer" role="alert" data-testid="hand-answer">
                <strong>{last.from}:</strong> {last.message}
              </p>
            ) : (
              <p className="hand-waiting" role="status" data-testid="hand-raised">
                <strong>Hand raised</strong> — an instructor has been told and will answer here.
              </p>
            )}
            {h.answers.length > 1 && (
              <ul className="hand-earlier small muted">
                {h.answers.slice(0, -1).map((a, i) => <li key={i}><strong>{a.from}:</strong> {a.message}</li>)}
              </ul>
            )}
            <p className="small muted hand-asked">
              {h.message !== undefined ? <>You asked: “{h.message || '(no message)'}”</> : 'Your hand raised in another tab'}
              {h.lineText !== undefined && <> about <code className="hand-line">{h.lineText}</code></>}
              {showLine && h.containerName && h.cursor && (
                <>
                  {' '}
                  <button type="button" className="link" onClick={() => navigate({ page: 'container', name: h.containerName!, at: h.cursor })}>
                    Show the line
                  </button>
                </>
              )}
            </p>
            <button type="button" className="hand-close link" aria-label="Close this notice" title="Close" onClick={() => book.close(h.id)}>×</button>
          </div>
        );
      })}
    </div>
  );
}

// A container's checklist (its lab's checkpoints, reached or not): "2/3",
// which opens to the list with when each was reached, each reached one a
// link to the line that reached it.

import { progress } from '../lib/attention';
import type { Checkpoint } from '../lib/types';
import { href, onLink } from '../router';
import { dateTimeOf } from './format';

export function Checklist({ container, checkpoints, label }: {
  /** The container's name, for the links to the lines. */
  container: string;
  checkpoints: readonly Checkpoint[] | undefined;
  /** Text before the count ("Checklist"); none in a table cell. */
  label?: string;
}) {
  const p = progress(checkpoints);
  if (!p || !checkpoints) return <span className="muted">—</span>;
  const summary = checkpoints
    .map((c) => `${c.reachedAt ? '✓' : '○'} ${c.name}${c.reachedAt ? ` (${dateTimeOf(c.reachedAt)})` : ''}`)
    .join('\n');
  return (
    <details className={`checklist${p.done ? ' done' : ''}`} data-testid={`checklist-${container}`}>
      <summary title={summary} aria-label={`${label ?? 'Checklist'}: ${p.reached} of ${p.total} checkpoints reached`}>
        {label && <span className="checklist-label">{label} </span>}
        <span className="checklist-count" data-testid="checklist-count">{p.text}</span>
        <span className="checklist-bar" aria-hidden>
          <span style={{ width: `${(100 * p.reached) / p.total}%` }} />
        </span>
      </summary>
      <ul>
        {checkpoints.map((c) => {
          const to = c.cursor ? { page: 'container' as const, name: container, at: c.cursor } : null;
          return (
            <li key={c.name} className={c.reachedAt ? 'reached' : 'pending'} data-testid="checkpoint">
              <span aria-hidden>{c.reachedAt ? '✓' : '○'}</span>{' '}
              <span className="checkpoint-name">{c.name}</span>{' '}
              {c.reachedAt ? (
                to
                  ? <a className="small" href={href(to)} onClick={onLink(to)} title="Open the line that reached it">{dateTimeOf(c.reachedAt)}</a>
                  : <span className="small muted">{dateTimeOf(c.reachedAt)}</span>
              ) : <span className="small muted">not yet</span>}
            </li>
          );
        })}
      </ul>
    </details>
  );
}

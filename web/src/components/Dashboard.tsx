// Instructors: every lab container grouped by student, live; and the
// class's lab history: searched across every student, downloaded whole or
// per student.

import { useEffect, useMemo, useState, type FormEvent } from 'react';
import type { LabtailClient } from '../lib/client';
import { exportUrl, type SearchQuery } from '../lib/history';
import type { Dashboard as Snapshot, DashboardRow } from '../lib/types';
import { href, navigate, onLink } from '../router';
import { ownerColour } from './colours';
import { StateBadge } from './ContainerList';
import { HistorySearch } from './HistorySearch';

/** The class-wide history search form; its results below it. */
function ClassHistory() {
  const [q, setQ] = useState('');
  const [regex, setRegex] = useState(false);
  const [owner, setOwner] = useState('');
  const [query, setQuery] = useState<SearchQuery | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!q.trim()) return;
    setQuery({ q: q.trim(), regex, ignoreCase: true, owner: owner.trim() || undefined });
  };
  return (
    <section className="class-history" aria-labelledby="class-history-title">
      <div className="section-head">
        <h2 id="class-history-title">Class history</h2>
        <form className="history-form" role="search" onSubmit={submit}>
          <label>
            <span className="visually-hidden">Search every student's history</span>
            <input type="search" placeholder="Search every student's history…" value={q} onChange={(e) => setQ(e.target.value)} />
          </label>
          <label>
            <span className="visually-hidden">Only this student</span>
            <input type="text" placeholder="student (optional)" value={owner} onChange={(e) => setOwner(e.target.value)} size={14} />
          </label>
          <label className="chip"><input type="checkbox" checked={regex} onChange={(e) => setRegex(e.target.checked)} /> regex</label>
          <button type="submit" disabled={!q.trim()}>Search history</button>
        </form>
        <a className="button" href={exportUrl()} download>Download class history</a>
      </div>
      {query && <HistorySearch query={query} wide onClose={() => setQuery(null)} />}
    </section>
  );
}

export function Dashboard({ client }: { client: LabtailClient }) {
  const [snap, setSnap] = useState<Snapshot | null>(null);
  const [picked, setPicked] = useState<string[]>([]);
  const [filter, setFilter] = useState('');

  useEffect(() => client.watchDashboard(setSnap), [client]);

  const groups = useMemo(() => {
    const by = new Map<string, DashboardRow[]>();
    const f = filter.trim().toLowerCase();
    for (const c of snap?.containers ?? []) {
      const owner = c.owner ?? '(no owner)';
      if (f && !owner.toLowerCase().includes(f) && !c.name.toLowerCase().includes(f)) continue;
      by.set(owner, [...(by.get(owner) ?? []), c]);
    }
    return [...by.entries()].sort(([a], [b]) => a.localeCompare(b));
  }, [snap, filter]);

  const toggle = (name: string) => setPicked((p) => (p.includes(name) ? p.filter((x) => x !== name) : [...p, name]));
  const totals = (snap?.containers ?? []).reduce(
    (t, c) => ({ lps: t.lps + c.linesPerSecond, err: t.err + c.stderrLines, running: t.running + (c.state === 'running' ? 1 : 0) }),
    { lps: 0, err: 0, running: 0 },
  );

  return (
    <section aria-labelledby="dash-title">
      <div className="section-head">
        <h1 id="dash-title">Dashboard</h1>
        <label className="search">
          <span className="visually-hidden">Filter students or containers</span>
          <input type="search" placeholder="Filter students or containers…" value={filter} onChange={(e) => setFilter(e.target.value)} />
        </label>
        <button type="button" disabled={picked.length < 2} onClick={() => navigate({ page: 'merged', names: picked })}>
          Merged view of {picked.length >= 2 ? picked.length : ''} selected
        </button>
      </div>
      <ClassHistory />
      {!snap ? (
        <p className="muted" aria-busy="true">Waiting for the first update…</p>
      ) : (
        <>
          <p className="muted small" aria-live="polite">
            {snap.containers.length} containers, {totals.running} running · {totals.lps.toFixed(1)} lines/s · {totals.err} stderr lines since opened
          </p>
          {groups.map(([owner, rows]) => (
            <div key={owner} className="group">
              <h2>
                <span className="swatch" style={{ background: ownerColour(owner) }} aria-hidden />{owner}
                {owner !== '(no owner)' && (
                  <a className="button small" href={exportUrl({ owner })} download aria-label={`Download ${owner}'s history`}>Download history</a>
                )}
              </h2>
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col"><span className="visually-hidden">Select</span></th>
                      <th scope="col">Container</th>
                      <th scope="col">State</th>
                      <th scope="col" className="num">Lines/s</th>
                      <th scope="col" className="num">stderr</th>
                      <th scope="col">Watching</th>
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((c) => (
                      <tr key={c.id} data-testid={`dash-${c.name}`}>
                        <td>
                          <input type="checkbox" aria-label={`Select ${c.name}`} checked={picked.includes(c.name)} onChange={() => toggle(c.name)} />
                        </td>
                        <td>
                          <a href={href({ page: 'container', name: c.name })} onClick={onLink({ page: 'container', name: c.name })}>{c.name}</a>
                        </td>
                        <td>
                          <StateBadge state={c.state} />
                          {c.state !== 'running' && c.exitCode !== undefined && <small className="muted"> code {c.exitCode}</small>}
                        </td>
                        <td className="num">{c.linesPerSecond.toFixed(1)}</td>
                        <td className={`num ${c.stderrLines > 0 ? 'has-errors' : ''}`}>{c.stderrLines}</td>
                        <td>{c.watchers.length ? c.watchers.join(', ') : <span className="muted">—</span>}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </div>
          ))}
        </>
      )}
    </section>
  );
}

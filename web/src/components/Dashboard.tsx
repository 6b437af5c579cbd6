// Instructors and admins: who needs help now (the attention panel), every
// lab container they may see grouped by student with its checklist, live,
// narrowed to one course if they like (the filter is in the address:
// `/dashboard?course=NET101`); and the class's lab history: searched across
// every student, downloaded whole or per student.

import { useEffect, useMemo, useState, type FormEvent } from 'react';
import type { LabtailClient } from '../lib/client';
import { SEVERITY_RANK } from '../lib/attention';
import { courseChoices, inCourse, ownersIn } from '../lib/courses';
import { exportUrl, type SearchQuery } from '../lib/history';
import { attentionState } from '../lib/labs';
import type { AttentionEntry, Dashboard as Snapshot, DashboardRow } from '../lib/types';
import { href, navigate, onLink, replaceRoute } from '../router';
import { ownerColour } from './colours';
import { AttentionPanel } from './AttentionPanel';
import { Checklist } from './Checklist';
import { StateBadge } from './ContainerList';
import { HistorySearch, type Narrow } from './HistorySearch';
import { useNotifications } from './useNotifications';

/** The course filter: all courses, or one. */
function CourseFilter({ choices, course, onChange }: {
  choices: string[];
  course: string | undefined;
  onChange: (course: string | undefined) => void;
}) {
  return (
    <label className="course-filter">
      Course{' '}
      <select data-testid="course-filter" value={course ?? ''} onChange={(e) => onChange(e.target.value || undefined)}>
        <option value="">All courses</option>
        {choices.map((c) => <option key={c} value={c}>{c}</option>)}
      </select>
    </label>
  );
}

/** The class-wide history search form; its results below it. Under a
 * course filter its hits are narrowed to that course's students (the
 * search itself is not: the API knows no course), and the class bundle is
 * still every course's. */
function ClassHistory({ narrow, students }: { narrow?: Narrow; students: string[] }) {
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
            <input type="text" placeholder="student (optional)" value={owner} onChange={(e) => setOwner(e.target.value)} size={14} list="dash-students" />
          </label>
          <datalist id="dash-students">
            {students.map((o) => <option key={o} value={o} />)}
          </datalist>
          <label className="chip"><input type="checkbox" checked={regex} onChange={(e) => setRegex(e.target.checked)} /> regex</label>
          <button type="submit" disabled={!q.trim()}>Search history</button>
        </form>
        <a className="button" href={exportUrl()} download
          title={narrow ? 'The bundle holds every course you may see: it cannot be limited to one' : undefined}>
          Download class history{narrow ? ' (all courses)' : ''}
        </a>
      </div>
      {query && <HistorySearch query={query} wide onClose={() => setQuery(null)} narrow={narrow} />}
    </section>
  );
}

/** The most urgent open entry of each container, for its row's mark. */
function worstOpen(entries: readonly AttentionEntry[]): Map<string, AttentionEntry> {
  const by = new Map<string, AttentionEntry>();
  for (const e of entries) {
    if (e.state !== 'open') continue;
    const had = by.get(e.containerName);
    if (!had || SEVERITY_RANK[e.severity] < SEVERITY_RANK[had.severity]) by.set(e.containerName, e);
  }
  return by;
}

export function Dashboard({ client, course: routeCourse, attention: focus, myCourses }: {
  client: LabtailClient;
  /** The course filter the address names. */
  course?: string;
  /** An attention entry the address names (a notification's link). */
  attention?: number;
  /** The user's own courses: offered even before a container counts for them. */
  myCourses: string[];
}) {
  const [snap, setSnap] = useState<Snapshot | null>(null);
  const [picked, setPicked] = useState<string[]>([]);
  const [filter, setFilter] = useState('');
  const [course, setCourse] = useState(routeCourse);

  useEffect(() => client.watchDashboard(setSnap), [client]);
  // Snapshots carry an empty list when attention is off: ask once.
  const [attention, setAttention] = useState<'on' | 'off' | 'unknown'>('unknown');
  useEffect(() => {
    const ctl = new AbortController();
    void attentionState(ctl.signal).then((s) => { if (!ctl.signal.aborted) setAttention(s); });
    return () => ctl.abort();
  }, []);
  // Back and Forward between filters.
  useEffect(() => setCourse(routeCourse), [routeCourse]);
  const pickCourse = (c: string | undefined) => {
    setCourse(c);
    replaceRoute({ page: 'dashboard', course: c, attention: focus });
  };

  const all = snap?.containers ?? [];
  // Absent from a labtail with attention off.
  const entries = snap?.attention;
  const notify = useNotifications(entries, all, course);
  const marks = useMemo(() => worstOpen(entries ?? []), [entries]);
  const anyChecklist = all.some((c) => c.checkpoints && c.checkpoints.length > 0);
  const choices = courseChoices(all, myCourses, course);
  const rows = useMemo(() => all.filter((c) => inCourse(c, course)), [all, course]);
  const owners = useMemo(() => ownersIn(all, course), [all, course]);
  const narrow = useMemo(() => (course ? { course, owners } : undefined), [course, owners]);

  const groups = useMemo(() => {
    const by = new Map<string, DashboardRow[]>();
    const f = filter.trim().toLowerCase();
    for (const c of rows) {
      const owner = c.owner ?? '(no owner)';
      if (f && !owner.toLowerCase().includes(f) && !c.name.toLowerCase().includes(f)) continue;
      by.set(owner, [...(by.get(owner) ?? []), c]);
    }
    return [...by.entries()].sort(([a], [b]) => a.localeCompare(b));
  }, [rows, filter]);

  const toggle = (name: string) => setPicked((p) => (p.includes(name) ? p.filter((x) => x !== name) : [...p, name]));
  // What the filters hide is not merged: the button counts what is shown.
  const shownNames = new Set(groups.flatMap(([, rs]) => rs.map((c) => c.name)));
  const merging = picked.filter((n) => shownNames.has(n));
  const totals = rows.reduce(
    (t, c) => ({ lps: t.lps + c.linesPerSecond, err: t.err + c.stderrLines, running: t.running + (c.state === 'running' ? 1 : 0) }),
    { lps: 0, err: 0, running: 0 },
  );

  return (
    <section aria-labelledby="dash-title">
      <div className="section-head">
        <h1 id="dash-title">Dashboard</h1>
        {choices.length > 0 && <CourseFilter choices={choices} course={course} onChange={pickCourse} />}
        <label className="search">
          <span className="visually-hidden">Filter students or containers</span>
          <input type="search" placeholder="Filter students or containers…" value={filter} onChange={(e) => setFilter(e.target.value)} />
        </label>
        <button type="button" disabled={merging.length < 2} onClick={() => navigate({ page: 'merged', names: merging })}>
          Merged view of {merging.length >= 2 ? merging.length : ''} selected
        </button>
        <a className="button" href={href({ page: 'labs' })} onClick={onLink({ page: 'labs' })}>Labs and gradebooks</a>
      </div>
      {attention === 'off' ? (
        <p className="muted small" data-testid="attention-off">Attention is off on this server: no list of who needs help, no checklists.</p>
      ) : snap && entries && (
        <AttentionPanel client={client} entries={entries} rows={all} course={course} now={snap.at} focus={focus} notify={notify} />
      )}
      <ClassHistory narrow={narrow} students={[...owners].sort()} />
      {!snap ? (
        <p className="muted" aria-busy="true">Waiting for the first update…</p>
      ) : (
        <>
          <p className="muted small" aria-live="polite" data-testid="dash-totals">
            {rows.length} containers{course ? ` in ${course}` : ''}, {totals.running} running · {totals.lps.toFixed(1)} lines/s · {totals.err} stderr lines since opened
          </p>
          {course && rows.length === 0 && <p className="muted">No container counts for {course} right now.</p>}
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
                      {anyChecklist && <th scope="col">Checklist</th>}
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
                          {marks.has(c.name) && (
                            <a className={`row-attention sev-${marks.get(c.name)!.severity}`} data-testid="row-attention"
                              href={href({ page: 'dashboard', course, attention: marks.get(c.name)!.id })}
                              onClick={onLink({ page: 'dashboard', course, attention: marks.get(c.name)!.id })}
                              title={`Needs attention: ${marks.get(c.name)!.title}`}>
                              <span aria-hidden>●</span><span className="visually-hidden">needs attention: {marks.get(c.name)!.title}</span>
                            </a>
                          )}
                        </td>
                        <td>
                          <StateBadge state={c.state} />
                          {c.state !== 'running' && c.exitCode !== undefined && <small className="muted"> code {c.exitCode}</small>}
                        </td>
                        {anyChecklist && <td><Checklist container={c.name} checkpoints={c.checkpoints} /></td>}
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

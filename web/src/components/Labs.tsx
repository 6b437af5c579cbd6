// Instructors and admins: the labs (a lab is named by its containers' lab
// label), each with its rules (a line matching a pattern raises an attention
// entry) and checkpoints (the first line matching a pattern marks progress);
// one lab's editor; each lab's gradebook as CSV. The server checks every
// pattern when a lab is saved (Rust regex syntax) and says which rule or
// checkpoint is wrong and where: that message shows as it is.

import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { ApiError } from '../lib/api';
import type { LabtailClient } from '../lib/client';
import { cleanLab, emptyCheckpoint, emptyRule, gradebookUrl, labNameProblem, labProblems, listLabs, putLab, SEVERITIES } from '../lib/labs';
import type { Container, Lab, LabCheckpoint, LabRule, Severity } from '../lib/types';
import { href, navigate, onLink } from '../router';
import { timeOf } from './format';

/** The labs the user's visible containers name, with how many containers each. */
function useLabsInUse(client: LabtailClient): Map<string, number> {
  const [containers, setContainers] = useState<Container[]>([]);
  useEffect(() => {
    let live = true;
    client.list().then((l) => { if (live) setContainers(l); }).catch(() => {});
    return () => { live = false; };
  }, [client]);
  return useMemo(() => {
    const by = new Map<string, number>();
    for (const c of containers) if (c.lab && c.state !== 'removed') by.set(c.lab, (by.get(c.lab) ?? 0) + 1);
    return by;
  }, [containers]);
}

function useLabs(): { labs: Lab[] | null; error: string; reload: () => void } {
  const [labs, setLabs] = useState<Lab[] | null>(null);
  const [error, setError] = useState('');
  const [n, setN] = useState(0);
  useEffect(() => {
    const ctl = new AbortController();
    listLabs(ctl.signal)
      .then((l) => { setLabs(l); setError(''); })
      .catch((e: unknown) => { if (!ctl.signal.aborted) setError(e instanceof Error ? e.message : String(e)); });
    return () => ctl.abort();
  }, [n]);
  return { labs, error, reload: () => setN((x) => x + 1) };
}

export function Labs({ client, name }: { client: LabtailClient; name?: string }) {
  return name === undefined ? <LabList client={client} /> : <LabEditor name={name} />;
}

function LabList({ client }: { client: LabtailClient }) {
  const { labs, error } = useLabs();
  const inUse = useLabsInUse(client);
  const [newName, setNewName] = useState('');
  const problem = newName ? labNameProblem(newName.trim()) : null;
  const undefinedLabs = labs ? [...inUse.keys()].filter((l) => !labs.some((d) => d.name === l)).sort() : [];
  const create = (e: FormEvent) => {
    e.preventDefault();
    const n = newName.trim();
    if (!n || labNameProblem(n)) return;
    navigate({ page: 'labs', name: n });
  };

  return (
    <section aria-labelledby="labs-title" className="labs">
      <div className="section-head">
        <h1 id="labs-title">Labs</h1>
        <a href={href({ page: 'dashboard' })} onClick={onLink({ page: 'dashboard' })}>Back to the dashboard</a>
      </div>
      <p className="muted small">
        A lab is named by its containers' <code>labtail.lab</code> label. Its rules raise attention entries on the
        dashboard; its checkpoints make each student's checklist and the lab's gradebook.
      </p>
      {error && <p className="error" role="alert">Could not list the labs: {error}</p>}
      {!labs && !error && <p className="muted" aria-busy="true">Loading labs…</p>}
      {labs && labs.length === 0 && <p className="muted">No lab is defined yet.</p>}
      {labs && labs.length > 0 && (
        <div className="table-wrap">
          <table data-testid="labs-table">
            <thead>
              <tr>
                <th scope="col">Lab</th>
                <th scope="col" className="num">Rules</th>
                <th scope="col" className="num">Checkpoints</th>
                <th scope="col" className="num">Containers now</th>
                <th scope="col"><span className="visually-hidden">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {labs.map((l) => (
                <tr key={l.name} data-testid={`lab-${l.name}`}>
                  <td><a href={href({ page: 'labs', name: l.name })} onClick={onLink({ page: 'labs', name: l.name })}>{l.name}</a></td>
                  <td className="num">{l.rule.length}</td>
                  <td className="num">{l.checkpoint.length}</td>
                  <td className="num">{inUse.get(l.name) ?? 0}</td>
                  <td className="actions">
                    <a className="button small" href={href({ page: 'labs', name: l.name })} onClick={onLink({ page: 'labs', name: l.name })}
                      aria-label={`Edit lab ${l.name}`}>Edit</a>
                    {' '}
                    <a className="button small" href={gradebookUrl(l.name)} download aria-label={`Gradebook of ${l.name} (CSV)`}>Gradebook CSV</a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {undefinedLabs.length > 0 && (
        <p className="notice" data-testid="labs-undefined">
          Containers name {undefinedLabs.length === 1 ? 'a lab' : 'labs'} with no definition yet:{' '}
          {undefinedLabs.map((l, i) => (
            <span key={l}>
              {i > 0 && ', '}
              <a href={href({ page: 'labs', name: l })} onClick={onLink({ page: 'labs', name: l })}>{l}</a> ({inUse.get(l)})
            </span>
          ))}
        </p>
      )}
      <form className="new-lab" onSubmit={create}>
        <label>
          New lab{' '}
          <input type="text" value={newName} onChange={(e) => setNewName(e.target.value)} placeholder="name (its lab label)" size={24}
            aria-invalid={problem ? true : undefined} />
        </label>
        <button type="submit" disabled={!newName.trim() || problem !== null}>Define</button>
        {problem && <span className="error small">{problem}</span>}
      </form>
    </section>
  );
}

function LabEditor({ name }: { name: string }) {
  const { labs, error: loadError } = useLabs();
  /** The lab as the server has it (null: not defined yet), once read. */
  const [base, setBase] = useState<Lab | null | undefined>(undefined);
  const [draft, setDraft] = useState<Lab | null>(null);
  const [saving, setSaving] = useState(false);
  const [serverError, setServerError] = useState('');
  const [problems, setProblems] = useState<string[]>([]);
  const [savedAt, setSavedAt] = useState('');
  // The stored lab, or a new one, once the list is read.
  useEffect(() => {
    if (!labs || base !== undefined) return;
    const stored = labs.find((l) => l.name === name) ?? null;
    setBase(stored);
    setDraft(stored ? structuredClone(stored) : { name, rule: [], checkpoint: [] });
  }, [labs, base, name]);
  const isNew = base === null;
  const dirty = draft !== null && JSON.stringify(cleanLab(draft)) !== JSON.stringify(base ?? { name, rule: [], checkpoint: [] });

  const edit = (f: (d: Lab) => Lab) => {
    setDraft((d) => (d ? f(d) : d));
    setSavedAt('');
  };
  const setRule = (i: number, r: Partial<LabRule>) => edit((d) => ({ ...d, rule: d.rule.map((x, j) => (j === i ? { ...x, ...r } : x)) }));
  const setCheckpoint = (i: number, c: Partial<LabCheckpoint>) =>
    edit((d) => ({ ...d, checkpoint: d.checkpoint.map((x, j) => (j === i ? { ...x, ...c } : x)) }));

  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!draft) return;
    const lab = cleanLab(draft);
    const found = labProblems(lab);
    setProblems(found);
    setServerError('');
    if (found.length) return;
    setSaving(true);
    try {
      const saved = await putLab(lab);
      setBase(saved);
      setDraft(structuredClone(saved));
      setSavedAt(new Date().toISOString());
    } catch (err) {
      setServerError(err instanceof ApiError ? err.message : err instanceof Error ? err.message : String(err));
    } finally {
      setSaving(false);
    }
  };

  return (
    <section aria-labelledby="lab-title" className="labs lab-editor">
      <div className="section-head">
        <h1 id="lab-title">Lab <code>{name}</code>{isNew && <small className="muted"> (new)</small>}</h1>
        <a href={href({ page: 'labs' })} onClick={onLink({ page: 'labs' })}>All labs</a>
        {!isNew && <a className="button small" href={gradebookUrl(name)} download>Gradebook CSV</a>}
      </div>
      {loadError && <p className="error" role="alert">Could not read the labs: {loadError}</p>}
      {!draft && !loadError && <p className="muted" aria-busy="true">Loading…</p>}
      {draft && (
        <form onSubmit={save} aria-label={`Rules and checkpoints of ${name}`}>
          <fieldset>
            <legend>Rules <span className="muted small">— a line matching the pattern raises an entry on the dashboard</span></legend>
            {draft.rule.length === 0 && <p className="muted small">No rule.</p>}
            {draft.rule.map((r, i) => (
              <div className="lab-row" key={i} data-testid={`rule-${i + 1}`}>
                <span className="lab-pos">{i + 1}</span>
                <label className="grow">
                  <span className="visually-hidden">Rule {i + 1} pattern</span>
                  <input type="text" className="mono" placeholder="pattern (regex), e.g. Traceback \(most recent call last\)" value={r.pattern}
                    onChange={(e) => setRule(i, { pattern: e.target.value })} spellCheck={false} />
                </label>
                <label>
                  <span className="visually-hidden">Rule {i + 1} severity</span>
                  <select value={r.severity} onChange={(e) => setRule(i, { severity: e.target.value as Severity })}>
                    {SEVERITIES.map((s) => <option key={s} value={s}>{s}</option>)}
                  </select>
                </label>
                <label className="grow">
                  <span className="visually-hidden">Rule {i + 1} title</span>
                  <input type="text" placeholder="title, e.g. the program crashed" value={r.title} onChange={(e) => setRule(i, { title: e.target.value })} />
                </label>
                <button type="button" className="small" aria-label={`Remove rule ${i + 1}`}
                  onClick={() => edit((d) => ({ ...d, rule: d.rule.filter((_, j) => j !== i) }))}>Remove</button>
              </div>
            ))}
            <button type="button" onClick={() => edit((d) => ({ ...d, rule: [...d.rule, emptyRule()] }))}>Add rule</button>
          </fieldset>
          <fieldset>
            <legend>Checkpoints <span className="muted small">— reached at the first line matching the pattern; the students' checklist</span></legend>
            {draft.checkpoint.length === 0 && <p className="muted small">No checkpoint.</p>}
            {draft.checkpoint.map((c, i) => (
              <div className="lab-row" key={i} data-testid={`checkpoint-${i + 1}`}>
                <span className="lab-pos">{i + 1}</span>
                <label>
                  <span className="visually-hidden">Checkpoint {i + 1} name</span>
                  <input type="text" placeholder="name, e.g. tests" value={c.name} onChange={(e) => setCheckpoint(i, { name: e.target.value })} size={18} />
                </label>
                <label className="grow">
                  <span className="visually-hidden">Checkpoint {i + 1} pattern</span>
                  <input type="text" className="mono" placeholder="pattern (regex), e.g. tests passed" value={c.pattern}
                    onChange={(e) => setCheckpoint(i, { pattern: e.target.value })} spellCheck={false} />
                </label>
                <button type="button" className="small" aria-label={`Remove checkpoint ${i + 1}`}
                  onClick={() => edit((d) => ({ ...d, checkpoint: d.checkpoint.filter((_, j) => j !== i) }))}>Remove</button>
              </div>
            ))}
            <button type="button" onClick={() => edit((d) => ({ ...d, checkpoint: [...d.checkpoint, emptyCheckpoint()] }))}>Add checkpoint</button>
          </fieldset>
          <p className="muted small">
            Patterns are Rust <code>regex</code> syntax (no look-around, no back-references), matched anywhere in a line.
            A checkpoint added now is also looked for in what the containers already wrote.
          </p>
          <div className="lab-save">
            <button type="submit" className="primary" disabled={saving || (!dirty && !isNew)}>{saving ? 'Saving…' : 'Save lab'}</button>
            {savedAt && !dirty && <span className="ok" role="status" data-testid="lab-saved">Saved at {timeOf(savedAt)}; every node uses it within seconds.</span>}
            {dirty && !saving && <span className="muted small">Unsaved changes</span>}
          </div>
          {problems.length > 0 && (
            <ul className="error" role="alert" data-testid="lab-problems">
              {problems.map((p) => <li key={p}>{p}</li>)}
            </ul>
          )}
          {serverError && (
            <p className="error lab-error" role="alert" data-testid="lab-error">Not saved: {serverError}</p>
          )}
        </form>
      )}
    </section>
  );
}

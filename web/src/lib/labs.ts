// Attention's HTTP half (instructors and admins; docs/protocol.md, "HTTP
// API"): whether attention is on, and the labs: their rules and
// checkpoints, defined or replaced whole with a PUT that the server checks
// (a pattern that does not compile is a 400 naming the rule and the
// position: shown as it says), and each lab's gradebook.

import { errorOf } from './api';
import type { Lab, LabCheckpoint, LabRule, Severity } from './types';

/**
 * Whether attention is on: `GET /api/attention` answers 503 `unavailable`
 * when it is off. (A dashboard snapshot cannot tell: it has an empty list
 * either way.) `unknown` when the question failed otherwise.
 */
export async function attentionState(signal?: AbortSignal): Promise<'on' | 'off' | 'unknown'> {
  try {
    const res = await fetch('/api/attention', { credentials: 'same-origin', signal });
    if (res.ok) return 'on';
    const e = await errorOf(res);
    return e.code === 'unavailable' ? 'off' : 'unknown';
  } catch {
    return 'unknown';
  }
}

const labUrl = (name: string) => `/api/labs/${encodeURIComponent(name)}`;

export async function listLabs(signal?: AbortSignal): Promise<Lab[]> {
  const res = await fetch('/api/labs', { credentials: 'same-origin', signal });
  if (!res.ok) throw await errorOf(res);
  return res.json();
}

/** Defines (or replaces) a lab. Throws `ApiError` with the server's message. */
export async function putLab(lab: Lab): Promise<Lab> {
  const res = await fetch(labUrl(lab.name), {
    method: 'PUT',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(lab),
  });
  if (!res.ok) throw await errorOf(res);
  return res.json();
}

/** `student,lab,checkpoint,reached_at,cursor` as a download. */
export function gradebookUrl(lab: string): string {
  return `${labUrl(lab)}/gradebook.csv`;
}

export const SEVERITIES: readonly Severity[] = ['error', 'warning', 'info'];

export const emptyRule = (): LabRule => ({ pattern: '', severity: 'warning', title: '' });
export const emptyCheckpoint = (): LabCheckpoint => ({ name: '', pattern: '' });

/** A lab name as the server takes it (the lab label's value): 1 to 64 of
 * A-Z a-z 0-9 . _ - */
export function labNameProblem(name: string): string | null {
  if (!name) return 'A lab needs a name: its containers\' lab label.';
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) return `Lab name "${name}": use 1 to 64 of A-Z a-z 0-9 . _ -`;
  return null;
}

/**
 * What the form can tell before sending: empty fields, two checkpoints of
 * one name. The patterns themselves are the server's to check (its regex
 * syntax is Rust's, not the browser's). Returns the problems, by position
 * (1-based, as the server names them), or none.
 */
export function labProblems(lab: Lab): string[] {
  const out: string[] = [];
  const name = labNameProblem(lab.name.trim());
  if (name) out.push(name);
  lab.rule.forEach((r, i) => {
    if (!r.pattern) out.push(`Rule ${i + 1} has no pattern.`);
    if (!r.title.trim()) out.push(`Rule ${i + 1} has no title (the attention entry's).`);
  });
  const seen = new Set<string>();
  lab.checkpoint.forEach((c, i) => {
    if (!c.name.trim()) out.push(`Checkpoint ${i + 1} has no name.`);
    else if (seen.has(c.name.trim())) out.push(`Checkpoint ${i + 1}: another checkpoint is named "${c.name.trim()}".`);
    seen.add(c.name.trim());
    if (!c.pattern) out.push(`Checkpoint ${i + 1} has no pattern.`);
  });
  return out;
}

/** The lab as the form sends it: titles and names trimmed, patterns as typed. */
export function cleanLab(lab: Lab): Lab {
  return {
    name: lab.name.trim(),
    rule: lab.rule.map((r) => ({ pattern: r.pattern, severity: r.severity, title: r.title.trim() })),
    checkpoint: lab.checkpoint.map((c) => ({ name: c.name.trim(), pattern: c.pattern })),
  };
}

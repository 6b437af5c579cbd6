import { describe, expect, it } from 'vitest';
import { courseChoices, inCourse, narrowHits, ownersIn } from '../src/lib/courses';
import { isStaff } from '../src/lib/roles';
import type { SearchHit } from '../src/lib/types';

const row = (name: string, owner: string | null, courses: string[]) => ({ name, owner, courses });
const rows = [
  row('amy-1', 'amy', ['NET101']),
  row('amy-2', 'amy', ['SEC201']),
  row('ben-1', 'ben', ['NET101', 'SEC201']),
  row('cat-1', 'cat', ['SEC201']),
  // Counts for no course (an admin's view of an unlabelled student).
  row('dan-1', 'dan', []),
  row('x', null, []),
];
const hit = (owner: string): SearchHit => ({
  containerName: `${owner}-1`, containerId: '0123456789ab', owner, cursor: '1795388680123456789-o000000',
  ts: '2026-11-22T23:04:40.123456789Z', stream: 'stdout', text: 'needle',
});

describe('the dashboard\'s course filter', () => {
  it('offers every course a row counts for, the user\'s own and the one asked for, sorted', () => {
    expect(courseChoices(rows)).toEqual(['NET101', 'SEC201']);
    expect(courseChoices(rows, ['ART300'])).toEqual(['ART300', 'NET101', 'SEC201']);
    expect(courseChoices([], [], 'OLD100')).toEqual(['OLD100']);
    expect(courseChoices([row('a', 'a', [])])).toEqual([]);
  });

  it('narrows the rows to a course; rows of no course show under All only', () => {
    const names = (course?: string) => rows.filter((r) => inCourse(r, course)).map((r) => r.name);
    expect(names()).toEqual(['amy-1', 'amy-2', 'ben-1', 'cat-1', 'dan-1', 'x']);
    expect(names('NET101')).toEqual(['amy-1', 'ben-1']);
    expect(names('SEC201')).toEqual(['amy-2', 'ben-1', 'cat-1']);
    expect(names('ART300')).toEqual([]);
  });

  it('knows the students a course shows', () => {
    expect([...ownersIn(rows, 'NET101')].sort()).toEqual(['amy', 'ben']);
    expect([...ownersIn(rows, undefined)].sort()).toEqual(['amy', 'ben', 'cat', 'dan']);
  });

  it('narrows a class search\'s hits to those students, and counts what it hides', () => {
    const hits = ['amy', 'cat', 'ben', 'dan', 'cat'].map(hit);
    const { shown, hidden } = narrowHits(hits, ownersIn(rows, 'NET101'));
    expect(shown.map((h) => h.owner)).toEqual(['amy', 'ben']);
    expect(hidden).toBe(3);
    expect(narrowHits(hits, null)).toEqual({ shown: hits, hidden: 0 });
  });
});

describe('roles', () => {
  it('admins get what instructors get', () => {
    expect(isStaff('instructor')).toBe(true);
    expect(isStaff('admin')).toBe(true);
    expect(isStaff('student')).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { cleanLab, gradebookUrl, labNameProblem, labProblems } from '../src/lib/labs';

describe('labs', () => {
  it('takes the names the server takes', () => {
    expect(labNameProblem('net')).toBeNull();
    expect(labNameProblem('net-2.b_c')).toBeNull();
    expect(labNameProblem('')).toMatch(/needs a name/);
    expect(labNameProblem('two words')).toMatch(/A-Z a-z 0-9/);
    expect(labNameProblem('x'.repeat(65))).toMatch(/1 to 64/);
  });

  it('says what is missing before sending, by position; patterns are the server\'s to check', () => {
    expect(labProblems({ name: 'net', rule: [{ pattern: 'a(b', severity: 'error', title: 'broken' }], checkpoint: [] })).toEqual([]);
    expect(labProblems({
      name: 'net',
      rule: [{ pattern: '', severity: 'error', title: ' ' }],
      checkpoint: [{ name: 'tests', pattern: 'ok' }, { name: 'tests ', pattern: '' }, { name: '', pattern: 'x' }],
    })).toEqual([
      'Rule 1 has no pattern.',
      'Rule 1 has no title (the attention entry\'s).',
      'Checkpoint 2: another checkpoint is named "tests".',
      'Checkpoint 2 has no pattern.',
      'Checkpoint 3 has no name.',
    ]);
  });

  it('sends titles and names trimmed, patterns as typed', () => {
    expect(cleanLab({ name: ' net ', rule: [{ pattern: ' a ', severity: 'info', title: ' t ' }], checkpoint: [{ name: ' c ', pattern: ' p' }] }))
      .toEqual({ name: 'net', rule: [{ pattern: ' a ', severity: 'info', title: 't' }], checkpoint: [{ name: 'c', pattern: ' p' }] });
  });

  it('links each lab\'s gradebook', () => {
    expect(gradebookUrl('net')).toBe('/api/labs/net/gradebook.csv');
  });
});

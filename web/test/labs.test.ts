import { describe, expect, it } from 'vitest';
import { attentionState, cleanLab, gradebookUrl, labNameProblem, labProblems } from '../src/lib/labs';

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

describe('whether attention is on', () => {
  const answer = (status: number, body: unknown) => async () => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  it('is told by GET /api/attention: a list, 503 unavailable, or anything else', async () => {
    const real = globalThis.fetch;
    try {
      globalThis.fetch = answer(200, []) as typeof fetch;
      expect(await attentionState()).toBe('on');
      globalThis.fetch = answer(503, { error: { code: 'unavailable', message: 'attention is off on this server' } }) as typeof fetch;
      expect(await attentionState()).toBe('off');
      globalThis.fetch = answer(500, { error: { code: 'internal', message: 'x' } }) as typeof fetch;
      expect(await attentionState()).toBe('unknown');
      globalThis.fetch = (async () => { throw new TypeError('network'); }) as typeof fetch;
      expect(await attentionState()).toBe('unknown');
    } finally {
      globalThis.fetch = real;
    }
  });
});

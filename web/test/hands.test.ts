import { describe, expect, it } from 'vitest';
import { HandBook } from '../src/lib/hands';

describe('raised hands', () => {
  it('matches answers to the hands this tab raised, and keeps answers to others', () => {
    const book = new HandBook();
    let changes = 0;
    book.subscribe(() => changes++);
    book.raised({ id: 7, containerName: 'amy-1', cursor: 'c7', message: 'why?', lineText: 'step 4' }, 1000);
    book.raised({ id: 8, containerName: 'amy-2', cursor: 'c8', message: 'and this?' }, 2000);
    expect(book.forView(['amy-1']).map((h) => h.id)).toEqual([7]);
    expect(book.unreadAnswers()).toEqual([]);
    book.answered({ id: 7, containerName: 'amy-1', message: 'On my way', from: 'tea' });
    expect(book.get(7)).toMatchObject({ containerName: 'amy-1', message: 'why?', answers: [{ message: 'On my way', from: 'tea' }] });
    // A hand raised in another tab: its answer shows in the views of its
    // container.
    book.answered({ id: 9, containerName: 'amy-2', message: 'look at line 3', from: 'tom' });
    expect(book.forView(['amy-1']).map((h) => h.id)).toEqual([7]);
    expect(book.forView(['amy-2']).map((h) => h.id)).toEqual([9, 8]);
    expect(book.unreadAnswers().map((h) => h.id)).toEqual([9, 7]);
    book.close(9);
    expect(book.forView(['amy-2']).map((h) => h.id)).toEqual([8]);
    // A second answer opens a closed notice again.
    book.close(7);
    book.answered({ id: 7, containerName: 'amy-1', message: 'done?', from: 'tea' });
    expect(book.get(7)?.answers.map((a) => a.message)).toEqual(['On my way', 'done?']);
    expect(book.get(7)?.closed).toBe(false);
    expect(changes).toBe(7);
  });

  it('reads the hands back from the server: answers given while away, none doubled, closed ones stay closed', () => {
    const store = new Map<string, string>();
    (globalThis as { localStorage?: unknown }).localStorage = {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => void store.set(k, v),
    };
    try {
      const book = new HandBook();
      book.raised({ id: 3, containerName: 'amy-1', cursor: 'c3', message: 'help' }, 1000);
      book.answered({ id: 3, containerName: 'amy-1', message: 'On my way', from: 'tea' });
      book.close(3);
      // After a reload: a new book, and the server's list.
      const again = new HandBook();
      again.restore([
        { id: 5, containerName: 'amy-2', cursor: 'c5', lineText: 'step 9', message: 'stuck', raisedAt: '2026-12-04T10:00:00Z', state: 'acknowledged',
          answer: { id: 5, containerName: 'amy-2', message: 'check the port', from: 'tom' } },
        { id: 4, containerName: 'amy-1', message: 'still waiting', raisedAt: '2026-12-04T09:00:00Z', state: 'open' },
        { id: 3, containerName: 'amy-1', cursor: 'c3', message: 'help', raisedAt: '2026-12-04T08:00:00Z', state: 'acknowledged',
          answer: { id: 3, containerName: 'amy-1', message: 'On my way', from: 'tea' } },
      ]);
      expect(again.unreadAnswers().map((h) => h.id)).toEqual([5]);
      expect(again.get(5)).toMatchObject({ lineText: 'step 9', cursor: 'c5', answers: [{ from: 'tom', message: 'check the port' }] });
      expect(again.forView(['amy-1']).map((h) => h.id)).toEqual([4]);
      // An answer heard live, then the list: one answer, not two.
      again.answered({ id: 4, containerName: 'amy-1', message: 'coming', from: 'tea' });
      again.restore([{ id: 4, containerName: 'amy-1', message: 'still waiting', raisedAt: '2026-12-04T09:00:00Z', state: 'acknowledged',
        answer: { id: 4, containerName: 'amy-1', message: 'coming', from: 'tea' } }]);
      expect(again.get(4)?.answers).toHaveLength(1);
    } finally {
      delete (globalThis as { localStorage?: unknown }).localStorage;
    }
  });
});

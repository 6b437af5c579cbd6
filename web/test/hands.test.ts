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
});

import { describe, expect, it } from 'vitest';
import { FrameBatcher } from '../src/lib/batcher';

describe('FrameBatcher', () => {
  it('flushes everything queued between two frames at once', () => {
    const frames: (() => void)[] = [];
    const flushed: number[][] = [];
    const b = new FrameBatcher<number>((items) => flushed.push(items), (cb) => frames.push(cb));
    for (let i = 0; i < 1000; i++) b.push(i);
    expect(frames.length).toBe(1);
    frames.shift()!();
    expect(flushed).toEqual([Array.from({ length: 1000 }, (_, i) => i)]);
    b.push(1000);
    expect(frames.length).toBe(1);
    frames.shift()!();
    expect(flushed.length).toBe(2);
  });
});

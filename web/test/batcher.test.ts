import { afterEach, describe, expect, it, vi } from 'vitest';
import { FrameBatcher, frameScheduler } from '../src/lib/batcher';

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

  it('holds a bounded number of events when no frame ever comes (a background tab)', () => {
    let flushedItems = 0;
    let maxHeld = 0;
    const b = new FrameBatcher<number>((items) => { flushedItems += items.length; }, () => {}, 100);
    for (let i = 0; i < 100_000; i++) {
      b.push(i);
      maxHeld = Math.max(maxHeld, b.size);
    }
    expect(maxHeld).toBeLessThan(100);
    expect(flushedItems + b.size).toBe(100_000);
  });
});

describe('frameScheduler', () => {
  afterEach(() => { vi.useRealTimers(); });

  it('uses a frame while the page is visible', () => {
    vi.useFakeTimers();
    const frames: (() => void)[] = [];
    const schedule = frameScheduler((cb) => frames.push(cb), () => false);
    const cb = vi.fn();
    schedule(cb);
    expect(frames.length).toBe(1);
    frames[0]!();
    expect(cb).toHaveBeenCalledTimes(1);
    // The timer it raced against does not run it again.
    vi.advanceTimersByTime(1000);
    expect(cb).toHaveBeenCalledTimes(1);
  });

  it('uses a timer while the page is hidden (frames are paused there)', () => {
    vi.useFakeTimers();
    const raf = vi.fn();
    const schedule = frameScheduler(raf, () => true);
    const cb = vi.fn();
    schedule(cb);
    expect(raf).not.toHaveBeenCalled();
    vi.advanceTimersByTime(20);
    expect(cb).toHaveBeenCalledTimes(1);
  });

  it('does not wait for a frame that never comes (hidden after it was asked for)', () => {
    vi.useFakeTimers();
    const frames: (() => void)[] = [];
    const schedule = frameScheduler((cb) => frames.push(cb), () => false, 250);
    const cb = vi.fn();
    schedule(cb);
    vi.advanceTimersByTime(250);
    expect(cb).toHaveBeenCalledTimes(1);
    frames[0]!();
    expect(cb).toHaveBeenCalledTimes(1);
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { lineBatch } from './log-lines.ts';

describe('lineBatch', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes the lines of a flush interval with one write, in order', () => {
    vi.useFakeTimers();
    const writes: string[] = [];
    const batch = lineBatch((text) => writes.push(text), 100, 1000);
    batch.push('a');
    batch.push('b');
    vi.advanceTimersByTime(99);
    expect(writes).toEqual([]);
    batch.push('c');
    vi.advanceTimersByTime(1);
    expect(writes).toEqual(['a\nb\nc\n']);
    batch.push('d');
    vi.advanceTimersByTime(100);
    expect(writes).toEqual(['a\nb\nc\n', 'd\n']);
    // Nothing queued: no empty write.
    vi.advanceTimersByTime(1000);
    expect(writes).toHaveLength(2);
  });

  it('writes at once when the batch is full, and on demand', () => {
    vi.useFakeTimers();
    const writes: string[] = [];
    const batch = lineBatch((text) => writes.push(text), 100, 10);
    batch.push('1234');
    batch.push('5678');
    expect(writes).toEqual(['1234\n5678\n']);
    batch.push('x');
    batch.flush();
    expect(writes).toEqual(['1234\n5678\n', 'x\n']);
    vi.advanceTimersByTime(1000);
    expect(writes).toHaveLength(2);
  });
});

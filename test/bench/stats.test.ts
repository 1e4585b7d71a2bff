import { describe, expect, it } from 'vitest';
import { quantile, summarize } from './stats.ts';

describe('quantile', () => {
  it('interpolates between the closest ranks', () => {
    const sorted = [10, 20, 30, 40];
    expect(quantile(sorted, 0)).toBe(10);
    expect(quantile(sorted, 1)).toBe(40);
    expect(quantile(sorted, 0.5)).toBe(25);
    expect(quantile(sorted, 1 / 3)).toBeCloseTo(20);
  });

  it('gives the one value of a single sample and NaN of none', () => {
    expect(quantile([7], 0.99)).toBe(7);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it('refuses a quantile outside [0, 1]', () => {
    expect(() => quantile([1], 1.5)).toThrow(RangeError);
    expect(() => quantile([1], -0.1)).toThrow(RangeError);
  });
});

describe('summarize', () => {
  it('sorts its input and reports count, mean and percentiles', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
    const s = summarize(values);
    expect(s.count).toBe(100);
    expect(s.min).toBe(1);
    expect(s.max).toBe(100);
    expect(s.mean).toBe(50.5);
    expect(s.p50).toBe(50.5);
    expect(s.p99).toBeCloseTo(99.01);
    expect(values[0]).toBe(100); // the input is left as it was
  });

  it('reports NaN for an empty sample', () => {
    const s = summarize([]);
    expect(s.count).toBe(0);
    expect(s.p50).toBeNaN();
    expect(s.mean).toBeNaN();
  });
});

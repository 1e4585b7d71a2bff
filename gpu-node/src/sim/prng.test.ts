import { describe, expect, it } from 'vitest';
import { combineSeeds, createRng, hashString, mix32, randomInt } from './prng.ts';

describe('prng', () => {
  it('repeats the same sequence for the same seed and another for another seed', () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const seqA = Array.from({ length: 20 }, () => a());
    const seqB = Array.from({ length: 20 }, () => b());
    const seqC = Array.from({ length: 20 }, () => c());
    expect(seqA).toEqual(seqB);
    expect(seqA).not.toEqual(seqC);
  });

  it('draws floats in [0, 1) spread over the range', () => {
    const rng = createRng(7);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 10_000; i++) {
      const x = rng();
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
      const k = Math.floor(x * 10);
      buckets[k] = (buckets[k] ?? 0) + 1;
    }
    for (const n of buckets) expect(n).toBeGreaterThan(800);
  });

  it('draws integers within inclusive bounds, reaching both', () => {
    const rng = createRng(1);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(randomInt(rng, 3, 6));
    expect([...seen].sort()).toEqual([3, 4, 5, 6]);
  });

  it('hashes strings stably and tells them apart', () => {
    expect(hashString('hello')).toBe(hashString('hello'));
    expect(hashString('hello')).not.toBe(hashString('hellp'));
    // FNV-1a's published value for "a".
    expect(hashString('a')).toBe(0xe40c292c);
  });

  it('mixes neighbouring inputs far apart and combines seeds in order', () => {
    expect(mix32(1)).not.toBe(mix32(2));
    expect(Math.abs(mix32(1) - mix32(2))).toBeGreaterThan(1000);
    expect(combineSeeds(1, 2)).not.toBe(combineSeeds(2, 1));
    expect(combineSeeds(1, 2)).toBe(combineSeeds(1, 2));
  });
});

import { describe, expect, it } from 'vitest';
import { ReplayCache } from './replay.ts';

describe('ReplayCache', () => {
  it('accepts a token once until it expires', () => {
    let now = 1000;
    const cache = new ReplayCache(10, () => now);
    expect(cache.accept('a', 31_000)).toBe(true);
    expect(cache.accept('a', 31_000)).toBe(false);
    expect(cache.accept('b', 31_000)).toBe(true);
    now = 31_000;
    // Expired: the verifier refuses it anyway; the cache forgets it.
    expect(cache.accept('a', 61_000)).toBe(true);
    expect(cache.size).toBe(1);
  });

  it('stays within its size, dropping the entries closest to expiry', () => {
    const now = 0;
    const cache = new ReplayCache(3, () => now);
    for (const [i, key] of ['a', 'b', 'c', 'd'].entries()) {
      expect(cache.accept(key, 10_000 + i)).toBe(true);
    }
    expect(cache.size).toBe(3);
    expect(cache.evicted).toBe(1);
    expect(cache.accept('b', 10_001)).toBe(false);
    expect(cache.accept('d', 10_003)).toBe(false);
    expect(cache.accept('a', 10_000)).toBe(true);
  });

  it('forgets expired entries as time passes', () => {
    let now = 0;
    const cache = new ReplayCache(100, () => now);
    for (let i = 0; i < 50; i += 1) cache.accept(`t${i}`, 1000 + i);
    now = 1025;
    cache.accept('late', 5000);
    expect(cache.size).toBe(25);
  });
});

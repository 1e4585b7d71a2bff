import { describe, expect, it } from 'vitest';
import { NO_LIMITS } from '../limits/arithmetic.ts';
import type { StoredKey } from '../store/api-keys.ts';
import { createKeyCache } from './key-cache.ts';

const KEY: StoredKey = {
  id: 'k1',
  name: 'one',
  models: null,
  expiresAt: null,
  disabled: false,
  limits: NO_LIMITS,
};

function setup(opts: { ttlMs: number; maxEntries?: number; maxUnknown?: number }) {
  let clock = 1_000_000;
  const loads: string[] = [];
  const known = new Map<string, StoredKey>([['h1', KEY]]);
  const cache = createKeyCache({
    ttlMs: opts.ttlMs,
    maxEntries: opts.maxEntries,
    maxUnknown: opts.maxUnknown,
    now: () => clock,
    load: (hash) => {
      loads.push(hash);
      return Promise.resolve(known.get(hash));
    },
  });
  return {
    cache,
    loads,
    known,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

describe('key cache', () => {
  it('serves a known key from memory until the TTL passes', async () => {
    const t = setup({ ttlMs: 2000 });
    expect(await t.cache.get('h1')).toEqual(KEY);
    t.advance(1999);
    expect(await t.cache.get('h1')).toEqual(KEY);
    expect(t.loads).toEqual(['h1']);
    t.advance(1);
    await t.cache.get('h1');
    expect(t.loads).toEqual(['h1', 'h1']);
  });

  it('remembers unknown keys for at most a second', async () => {
    const t = setup({ ttlMs: 10_000 });
    expect(await t.cache.get('nope')).toBeUndefined();
    t.advance(999);
    await t.cache.get('nope');
    expect(t.loads).toEqual(['nope']);
    t.advance(1);
    await t.cache.get('nope');
    expect(t.loads).toEqual(['nope', 'nope']);
  });

  it('shares one lookup between concurrent misses', async () => {
    const t = setup({ ttlMs: 2000 });
    const all = await Promise.all([t.cache.get('h1'), t.cache.get('h1'), t.cache.get('h1')]);
    expect(all).toEqual([KEY, KEY, KEY]);
    expect(t.loads).toEqual(['h1']);
  });

  it('caches nothing with a TTL of 0', async () => {
    const t = setup({ ttlMs: 0 });
    await t.cache.get('h1');
    await t.cache.get('h1');
    expect(t.loads).toEqual(['h1', 'h1']);
    expect(t.cache.size).toBe(0);
  });

  it('forgets everything on clear(), so a change is seen at once', async () => {
    const t = setup({ ttlMs: 60_000 });
    await t.cache.get('h1');
    t.known.set('h1', { ...KEY, disabled: true });
    t.cache.clear();
    expect((await t.cache.get('h1'))?.disabled).toBe(true);
  });

  it('keeps at most maxEntries, dropping the oldest', async () => {
    const t = setup({ ttlMs: 60_000, maxEntries: 2 });
    t.known.set('h2', { ...KEY, id: 'k2' });
    t.known.set('h3', { ...KEY, id: 'k3' });
    await t.cache.get('h1');
    await t.cache.get('h2');
    await t.cache.get('h3');
    expect(t.cache.size).toBe(2);
    await t.cache.get('h3');
    await t.cache.get('h2');
    await t.cache.get('h1');
    expect(t.loads).toEqual(['h1', 'h2', 'h3', 'h1']);
  });

  it('keeps valid keys through a flood of random keys, which only evict each other', async () => {
    const t = setup({ ttlMs: 60_000, maxEntries: 2, maxUnknown: 10 });
    await t.cache.get('h1');
    for (let i = 0; i < 1000; i += 1) expect(await t.cache.get(`random-${i}`)).toBeUndefined();
    expect(await t.cache.get('h1')).toEqual(KEY);
    expect(t.loads.filter((h) => h === 'h1')).toHaveLength(1);
    expect(t.cache.size).toBe(1 + 10);
    // The newest unknown keys are still remembered; the oldest were dropped.
    const before = t.loads.length;
    await t.cache.get('random-999');
    await t.cache.get('random-0');
    expect(t.loads.slice(before)).toEqual(['random-0']);
  });
});

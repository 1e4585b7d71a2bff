import { describe, expect, it } from 'vitest';
import { createSharedLoads, settledWithin } from './shared-load.ts';

function deferred<T>() {
  let resolve: (value: T) => void = () => undefined;
  let reject: (err: unknown) => void = () => undefined;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('shared loads', () => {
  it('concurrent runs of one key share one load', async () => {
    const loads = createSharedLoads<string, number>({ waitMs: 60_000 });
    const d = deferred<number>();
    let calls = 0;
    const load = () => {
      calls += 1;
      return d.promise;
    };
    const all = Promise.all([loads.run('k', load), loads.run('k', load), loads.run('k', load)]);
    d.resolve(7);
    expect(await all).toEqual([7, 7, 7]);
    expect(calls).toBe(1);
  });

  it('a failed load fails its joiners, and the next run loads again', async () => {
    const loads = createSharedLoads<string, number>({ waitMs: 60_000 });
    const d = deferred<number>();
    const first = loads.run('k', () => d.promise);
    const joined = loads.run('k', () => Promise.resolve(1));
    d.reject(new Error('database down'));
    await expect(first).rejects.toThrow('database down');
    await expect(joined).rejects.toThrow('database down');
    expect(await loads.run('k', () => Promise.resolve(2))).toBe(2);
  });

  it('a run whose shared load never settles starts its own, which later runs join', async () => {
    const loads = createSharedLoads<string, string>({ waitMs: 5 });
    // The load of a request that was canceled on workerd: it never settles.
    const stalled = new Promise<string>(() => undefined);
    void loads.run('k', () => stalled);
    const own = deferred<string>();
    let calls = 0;
    const load = () => {
      calls += 1;
      return own.promise;
    };
    const second = loads.run('k', load);
    // The second run gives up on the stalled load and starts its own...
    while (calls === 0) await new Promise((r) => setTimeout(r, 1));
    // ...which a later run joins instead of loading again.
    const third = loads.run('k', load);
    own.resolve('fresh');
    expect(await Promise.all([second, third])).toEqual(['fresh', 'fresh']);
    expect(calls).toBe(1);
  });

  it('clear() makes the next run start a fresh load', async () => {
    const loads = createSharedLoads<string, string>({ waitMs: 60_000 });
    const old = deferred<string>();
    const first = loads.run('k', () => old.promise);
    loads.clear();
    expect(await loads.run('k', () => Promise.resolve('new'))).toBe('new');
    old.resolve('old');
    expect(await first).toBe('old');
  });

  it('settledWithin waits for a settled promise, and gives up on one that never settles', async () => {
    await settledWithin(Promise.reject(new Error('ignored')), 60_000);
    await settledWithin(new Promise(() => undefined), 5);
  });
});

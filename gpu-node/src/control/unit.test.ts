import { describe, expect, it } from 'vitest';
import { backoffDelay, RESTART_BACKOFF } from './backoff.ts';
import { assignGpus } from './gpu-assign.ts';
import { specHash } from './instances.ts';

describe('backoffDelay', () => {
  it('doubles from the base up to the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(n))).toEqual([
      0, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000,
    ]);
    expect(backoffDelay(10_000, RESTART_BACKOFF)).toBe(60_000);
    expect(backoffDelay(3, { baseMs: 500, maxMs: 1500 })).toBe(1500);
  });
});

describe('assignGpus', () => {
  it('gives free GPUs, lowest index first, never one already taken', () => {
    expect(assignGpus([0, 1, 2, 3], new Set([0, 2]), 2)).toEqual({ ok: true, indices: [1, 3] });
    expect(assignGpus([3, 1, 2, 0], new Set(), 1)).toEqual({ ok: true, indices: [0] });
    expect(assignGpus([], new Set(), 0)).toEqual({ ok: true, indices: [] });
  });

  it('explains a shortage', () => {
    const busy = assignGpus([0, 1], new Set([1]), 2);
    expect(busy.ok).toBe(false);
    expect(!busy.ok && busy.detail).toMatch(/needs 2 GPU\(s\) but only 1 of 2 are free/);
    const none = assignGpus([], new Set(), 1);
    expect(!none.ok && none.detail).toMatch(/this node has none/);
  });
});

describe('specHash', () => {
  const base = {
    instance_id: 'i1',
    deployment_id: 'd1',
    model: 'm',
    recipe: 'sim' as const,
    options: { seed: 1, itl_ms: 2 },
    gpus: 0,
  };
  it('ignores option order and changes with what the engine runs', () => {
    expect(specHash({ ...base, options: { itl_ms: 2, seed: 1 } })).toBe(specHash(base));
    expect(specHash({ ...base, options: { seed: 2, itl_ms: 2 } })).not.toBe(specHash(base));
    expect(specHash({ ...base, gpus: 1 })).not.toBe(specHash(base));
  });
});

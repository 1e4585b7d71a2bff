import { describe, expect, it } from 'vitest';
import { backoffDelay, RESTART_BACKOFF } from './backoff.ts';
import { assignGpus } from './gpu-assign.ts';
import { recipes } from '../recipes/index.ts';
import { ProcessRuntime } from '../runtimes/process.ts';
import { planInstance } from './plan.ts';
import { specHash } from './spec-hash.ts';

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

describe('planInstance', () => {
  const desired = {
    instance_id: 'i1',
    deployment_id: 'd1',
    model: 'm',
    recipe: 'sim' as const,
    options: { seed: 1 },
    gpus: 0,
  };
  const context = {
    nodeId: 'n1',
    instanceId: 'i1',
    deploymentId: 'd1',
    model: 'm',
    gpuIndices: [],
    port: 0,
    modelCache: '/tmp',
  };
  const inputs = {
    recipes,
    runtimes: { process: new ProcessRuntime(), dockerUnavailable: 'not installed' },
    gpuCount: 0,
    context,
  };

  it('picks the recipe, its parsed options and its runtime', () => {
    const plan = planInstance(desired, inputs);
    expect(plan.ok && 'runtime' in plan && plan.runtime.kind).toBe('process');
    expect(plan.ok && plan.options).toMatchObject({ seed: 1 });
  });

  it('gives an external engine its endpoint instead of a runtime', () => {
    const plan = planInstance(
      { ...desired, recipe: 'external', options: { url: 'http://10.0.0.5:8000/v1' } },
      inputs,
    );
    expect(plan.ok && 'upstream' in plan && plan.upstream).toEqual({
      baseUrl: 'http://10.0.0.5:8000',
      healthUrl: 'http://10.0.0.5:8000/health',
      headers: {},
    });
  });

  it('says why an instance cannot run here', () => {
    const detail = (d: typeof desired | Record<string, unknown>) => {
      const plan = planInstance(d as typeof desired, inputs);
      return plan.ok ? 'ok' : plan.detail;
    };
    expect(detail({ ...desired, recipe: 'nope' })).toBe("unknown recipe 'nope'");
    expect(detail({ ...desired, options: { sed: 1 } })).toMatch(/unknown option 'sed'/);
    expect(detail({ ...desired, gpus: 1 })).toBe('needs 1 GPU(s) but this node has 0');
    expect(detail({ ...desired, recipe: 'ollama', options: {} })).toMatch(
      /needs the docker runtime, which this node does not have: not installed/,
    );
    // Options stored before the gateway refused them are refused here too.
    expect(
      detail({ ...desired, recipe: 'ollama', options: { env: { OLLAMA_HOST: '0.0.0.0' } } }),
    ).toMatch(/OLLAMA_HOST is not allowed/);
    expect(
      detail({ ...desired, recipe: 'vllm', options: { gpus: 0, extra_args: ['--port', '1'] } }),
    ).toMatch(/'--port' is not allowed/);
  });
});

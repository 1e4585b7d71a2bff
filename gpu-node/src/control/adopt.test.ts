// Adoption after a daemon restart: engines a runtime still runs for this node are taken
// over when they match a desired instance, and stopped when they do not. A process runtime
// created beforehand plays the part of the docker runtime that outlived the old daemon.
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { DesiredInstance } from '../../../schema/contracts.ts';
import { parseOptionsForNode } from '../recipes/parse.ts';
import type { Recipe } from '../recipes/types.ts';
import { ProcessRuntime } from '../runtimes/process.ts';
import type { Logger } from '../log.ts';
import { freeLocalPort } from './endpoint.ts';
import { SPEC_HASH_LABEL, specHash } from './spec-hash.ts';
import { Supervisor } from './supervisor.ts';

const ENGINE = fileURLToPath(new URL('../testing/engine.js', import.meta.url));
const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };

const recipe: Recipe = {
  name: 'sim',
  runtime: 'process',
  parse: (raw, gpus) => parseOptionsForNode('sim', raw, gpus),
  spec: (_o, ctx) => ({
    instanceId: ctx.instanceId,
    deploymentId: ctx.deploymentId,
    nodeId: ctx.nodeId,
    model: ctx.model,
    command: [process.execPath, ENGINE, '--port', String(ctx.port), '--model', ctx.model],
    env: {},
    port: ctx.port,
    healthPath: '/health',
    gpuIndices: ctx.gpuIndices,
    stopGraceSeconds: 2,
  }),
};

const previous = new ProcessRuntime();
afterAll(() => previous.killAllSync());

function desired(id: string, seed: number): DesiredInstance {
  return {
    instance_id: id,
    deployment_id: 'dep',
    model: 'm',
    recipe: 'sim',
    options: { seed },
    gpus: 1,
  };
}

async function leftOver(d: DesiredInstance, gpu: number, hash = specHash(d)) {
  const port = await freeLocalPort();
  const spec = recipe.spec(d.options, {
    nodeId: 'node-1',
    instanceId: d.instance_id,
    deploymentId: d.deployment_id,
    model: d.model,
    gpuIndices: [gpu],
    port,
    modelCache: '/tmp',
  });
  return previous.start({ ...spec, labels: { [SPEC_HASH_LABEL]: hash } });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('adoption', () => {
  it('keeps matching engines (serving before the gateway answers) and stops the others', async () => {
    const keep = desired('inst-keep', 1);
    const changed = desired('inst-changed', 1);
    const kept = await leftOver(keep, 0);
    const stale = await leftOver(changed, 1, 'options-of-old');
    const orphan = await leftOver(desired('inst-orphan', 1), 2);

    const manager = new Supervisor({
      nodeId: 'node-1',
      runtimes: { process: new ProcessRuntime(), docker: previous },
      recipes: { sim: recipe },
      gpuIndices: () => [0, 1, 2, 3],
      modelCache: '/tmp',
      log: quiet,
    });
    await manager.adopt();
    // Before any heartbeat answer: all three are known, hold their GPUs and become ready.
    expect(manager.takenGpus()).toEqual(new Set([0, 1, 2]));
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && manager.statuses().some((s) => s.state !== 'ready')) {
      await manager.tick();
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(manager.statuses().map((s) => s.state)).toEqual(['ready', 'ready', 'ready']);
    expect(manager.route('inst-orphan')?.state).toBe('ready');

    manager.reconcile([keep, changed]);
    while (Date.now() < deadline + 20_000) {
      await manager.tick();
      const states = Object.fromEntries(manager.statuses().map((s) => [s.instance_id, s]));
      if (states['inst-changed']?.state === 'ready' && !alive(Number(orphan.handle))) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const states = Object.fromEntries(manager.statuses().map((s) => [s.instance_id, s]));
    expect(Object.keys(states).sort()).toEqual(['inst-changed', 'inst-keep']);
    expect(states['inst-keep']).toMatchObject({ state: 'ready', restarts: 0, gpu_indices: [0] });
    expect(states['inst-changed']?.state).toBe('ready');
    // Same engine kept; the changed one replaced by a new engine; the orphan stopped.
    expect(alive(Number(kept.handle))).toBe(true);
    expect(alive(Number(stale.handle))).toBe(false);
    expect(alive(Number(orphan.handle))).toBe(false);
    await manager.shutdown();
  });
});

// Adoption after a daemon restart: engines a runtime still runs for this node (docker
// containers; processes die with the daemon) are taken over. Until the first heartbeat
// answer says whether they are wanted they keep serving; the supervisor's reconcile() then
// keeps those whose spec hash matches a desired instance and stops the rest.
import type { DesiredInstance } from '../../../schema/contracts.ts';
import type { Recipe } from '../recipes/types.ts';
import type { RuntimeSet } from '../runtimes/index.ts';
import type { EngineStatus, Runtime } from '../runtimes/types.ts';
import { localEndpoint } from './endpoint.ts';
import { EngineInstance, errorMessage, type InstanceEnv } from './instance.ts';
import { SPEC_HASH_LABEL } from './spec-hash.ts';

export interface AdoptDeps {
  runtimes: RuntimeSet;
  nodeId: string;
  env: InstanceEnv;
  // Whether the supervisor already has an instance under this id.
  known(instanceId: string): boolean;
  add(instance: EngineInstance): void;
  // Stops and removes an engine that is not worth adopting (exited, or no port known).
  discard(runtime: Runtime, handle: string): Promise<void>;
}

export async function adoptEngines(deps: AdoptDeps): Promise<void> {
  const { log } = deps.env;
  const runtimes = [deps.runtimes.docker].filter((r): r is Runtime => r !== undefined);
  for (const runtime of runtimes) {
    let found: EngineStatus[];
    try {
      found = await runtime.list(deps.nodeId);
    } catch (err) {
      log.warn(`cannot list ${runtime.kind} engines for adoption: ${errorMessage(err)}`);
      continue;
    }
    for (const status of found) {
      if (
        status.state !== 'running' ||
        status.port === undefined ||
        deps.known(status.instanceId)
      ) {
        log.info(
          `removing leftover ${runtime.kind} engine ${status.handle} (${status.instanceId})`,
        );
        void deps.discard(runtime, status.handle);
        continue;
      }
      log.info(
        `adopting ${runtime.kind} engine ${status.handle} for instance ${status.instanceId}`,
      );
      const inst = new EngineInstance(status.instanceId, status.deploymentId, '', deps.env);
      inst.key = status.labels?.[SPEC_HASH_LABEL] ?? '';
      inst.runtime = runtime;
      inst.handle = status.handle;
      inst.gpuIndices = status.gpuIndices ?? [];
      // Until its recipe is known (completeAdoption) the usual health path is assumed.
      inst.endpoint = localEndpoint(status.port, '/health');
      inst.apply({ type: 'attached', startedBefore: true });
      deps.add(inst);
    }
  }
}

// An adopted engine now has its desired instance (with a matching spec hash): its model
// name, recipe and options, and the health and metrics paths the recipe gives.
export function completeAdoption(
  inst: EngineInstance,
  d: DesiredInstance,
  recipes: Record<string, Recipe>,
  gpuCount: number,
): void {
  inst.model = d.model;
  const recipe = recipes[d.recipe];
  if (!recipe) return;
  inst.recipe = recipe;
  try {
    inst.options = recipe.parse(d.options, gpuCount).options;
    const spec = recipe.spec(inst.options, inst.context(0));
    const port = inst.endpoint ? Number(new URL(inst.endpoint.baseUrl).port) : spec.port;
    inst.endpoint = localEndpoint(port, spec.healthPath, spec.metricsPath);
  } catch {
    // Options that no longer parse were changed, which the spec hash would have caught.
  }
}

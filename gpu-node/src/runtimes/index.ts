// Which runtimes this node has, and which one an instance uses. The decision lives here
// and only here: the recipe's choice for its options, limited by what the node has.
import type { RuntimePreference } from '../config.ts';
import type { Recipe } from '../recipes/types.ts';
import { ProcessRuntime } from './process.ts';
import type { Runtime, RuntimeKind } from './types.ts';

export interface RuntimeSet {
  process: ProcessRuntime;
  docker?: Runtime;
  // Why docker is missing, for an instance's failure detail.
  dockerUnavailable?: string;
}

export function runtimeKindFor(
  recipe: Recipe,
  options: Record<string, unknown>,
): RuntimeKind | 'none' {
  return recipe.runtimeFor?.(options) ?? recipe.runtime;
}

export type RuntimeChoice =
  | { ok: true; kind: 'none' }
  | { ok: true; kind: RuntimeKind; runtime: Runtime }
  | { ok: false; detail: string };

export function chooseRuntime(
  set: RuntimeSet,
  recipe: Recipe,
  options: Record<string, unknown>,
): RuntimeChoice {
  const kind = runtimeKindFor(recipe, options);
  if (kind === 'none') return { ok: true, kind };
  if (kind === 'process') return { ok: true, kind, runtime: set.process };
  if (set.docker) return { ok: true, kind, runtime: set.docker };
  return {
    ok: false,
    detail: `recipe '${recipe.name}' needs the docker runtime, which this node does not have: ${
      set.dockerUnavailable ?? 'not configured'
    }`,
  };
}

// Connects to Docker when the preference allows it. With 'docker' an unreachable Docker
// Engine is an error at start-up; with 'auto' the node runs without it and says why.
export async function createRuntimes(
  preference: RuntimePreference,
  loadDocker: () => Promise<Runtime>,
  processRuntime = new ProcessRuntime(),
): Promise<RuntimeSet> {
  if (preference === 'process') {
    return { process: processRuntime, dockerUnavailable: 'runtime preference is "process"' };
  }
  try {
    return { process: processRuntime, docker: await loadDocker() };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (preference === 'docker')
      throw new Error(`docker runtime unavailable: ${why}`, { cause: err });
    return { process: processRuntime, dockerUnavailable: why };
  }
}

// The docker runtime lives in its own module (and pulls in dockerode); it is loaded only
// when the preference allows docker, and it fails here when the Engine does not answer.
export async function loadDockerRuntime(): Promise<Runtime> {
  const { createDockerRuntime } = await import('./docker/index.ts');
  return createDockerRuntime();
}

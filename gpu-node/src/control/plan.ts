// How a desired instance will run on this node, decided before anything starts: its
// recipe, its parsed options, and either the runtime that starts the engine or the
// endpoint of an engine that already runs. A plan that cannot work says why; the instance
// then fails until the gateway changes what it wants.
import type { DesiredInstance } from '../../../schema/contracts.ts';
import {
  RecipeOptionsError,
  type EngineEndpoint,
  type Recipe,
  type RecipeContext,
} from '../recipes/types.ts';
import { chooseRuntime, type RuntimeSet } from '../runtimes/index.ts';
import type { Runtime } from '../runtimes/types.ts';

export type InstancePlan =
  | { ok: false; detail: string }
  | { ok: true; recipe: Recipe; options: Record<string, unknown>; runtime: Runtime }
  | { ok: true; recipe: Recipe; options: Record<string, unknown>; upstream: EngineEndpoint };

export interface PlanInputs {
  recipes: Record<string, Recipe>;
  runtimes: RuntimeSet;
  gpuCount: number;
  // For recipes that name their engine's URL (runtime 'none').
  context: RecipeContext;
}

export function planInstance(d: DesiredInstance, inputs: PlanInputs): InstancePlan {
  const recipe = inputs.recipes[d.recipe];
  if (!recipe) return { ok: false, detail: `unknown recipe '${d.recipe}'` };
  let options: Record<string, unknown>;
  try {
    options = recipe.parse(d.options, inputs.gpuCount).options;
  } catch (err) {
    if (err instanceof RecipeOptionsError) return { ok: false, detail: err.message };
    throw err;
  }
  if (d.gpus > inputs.gpuCount) {
    return { ok: false, detail: `needs ${d.gpus} GPU(s) but this node has ${inputs.gpuCount}` };
  }
  const choice = chooseRuntime(inputs.runtimes, recipe, options);
  if (!choice.ok) return { ok: false, detail: choice.detail };
  if (choice.kind !== 'none') return { ok: true, recipe, options, runtime: choice.runtime };
  const upstream = recipe.upstream?.(options, inputs.context);
  if (!upstream) return { ok: false, detail: `recipe '${d.recipe}' names no engine URL` };
  return { ok: true, recipe, options, upstream: { ...upstream } };
}

// Option parsing shared by the recipes: the schema check of schema/recipes.ts, then the
// node's own check that it has the GPUs the options ask for.
import type { RecipeName } from '../../../schema/contracts.ts';
import { parseRecipeOptions } from '../../../schema/recipes.ts';
import { RecipeOptionsError } from './types.ts';

export function parseOptionsForNode(
  recipe: RecipeName,
  raw: unknown,
  gpuCountOnNode: number,
): { options: Record<string, unknown>; gpus: number } {
  const result = parseRecipeOptions(recipe, raw);
  if (!result.ok) throw new RecipeOptionsError(result.message, result.param);
  if (result.gpus > gpuCountOnNode) {
    throw new RecipeOptionsError(
      `recipe '${recipe}' asks for ${result.gpus} GPU(s) but this node has ${gpuCountOnNode}`,
      'options.gpus',
    );
  }
  return { options: result.options, gpus: result.gpus };
}

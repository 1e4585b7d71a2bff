// Every engine recipe by name.
import type { RecipeName } from '../../../schema/contracts.ts';
import { externalRecipe } from './external.ts';
import { llamacppRecipe } from './llamacpp.ts';
import { ollamaRecipe } from './ollama.ts';
import { sglangRecipe } from './sglang.ts';
import { simRecipe } from './sim.ts';
import type { Recipe } from './types.ts';
import { vllmRecipe } from './vllm.ts';

export const recipes: Record<RecipeName, Recipe> = {
  vllm: vllmRecipe,
  sglang: sglangRecipe,
  ollama: ollamaRecipe,
  llamacpp: llamacppRecipe,
  sim: simRecipe,
  external: externalRecipe,
};

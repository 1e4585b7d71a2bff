// Ollama in its official image. Ollama downloads models through its own API, so the
// recipe pulls the tag after the server answers and before the instance is ready.
import type { RecipeOptions } from '../../../schema/recipes.ts';
import type { EngineSpec } from '../runtimes/types.ts';
import { containerSpec } from './container.ts';
import { parseOptionsForNode } from './parse.ts';
import type { Recipe, RecipeContext } from './types.ts';

export const OLLAMA_IMAGE = 'ollama/ollama:0.12.3';

export class OllamaPrepareError extends Error {
  override readonly name = 'OllamaPrepareError';
}

async function call(
  baseUrl: string,
  path: string,
  body: unknown,
  signal: AbortSignal,
): Promise<void> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  });
  const text = await res.text();
  if (!res.ok) {
    let detail = text.slice(0, 500);
    try {
      const parsed = JSON.parse(text) as { error?: unknown };
      if (typeof parsed.error === 'string') detail = parsed.error;
    } catch {
      // Not JSON: the raw text says it.
    }
    throw new OllamaPrepareError(`ollama ${path} answered ${res.status}: ${detail}`);
  }
}

export function ollamaTag(options: Record<string, unknown>, model: string): string {
  return (options as RecipeOptions['ollama']).model ?? model;
}

export const ollamaRecipe: Recipe = {
  name: 'ollama',
  runtime: 'docker',
  parse: (raw, gpuCountOnNode) => parseOptionsForNode('ollama', raw, gpuCountOnNode),

  spec(raw, ctx: RecipeContext): EngineSpec {
    const options = raw as RecipeOptions['ollama'];
    const port = options.port ?? ctx.port;
    return containerSpec(ctx, {
      image: options.image ?? OLLAMA_IMAGE,
      // The image's entrypoint is /bin/ollama.
      command: ['serve'],
      env: { OLLAMA_HOST: `127.0.0.1:${port}`, ...options.env },
      port,
      healthPath: '/api/version',
      cachePath: '/root/.ollama',
      stopGraceSeconds: 10,
    });
  },

  // Pulls the tag (a no-op when the shared cache has it). When clients know the model by
  // another name, that name becomes an Ollama alias of the tag (/api/copy writes only a
  // manifest), so requests reach Ollama with a model name it serves, unchanged.
  async prepare(baseUrl, options, ctx, signal) {
    const tag = ollamaTag(options, ctx.model);
    await call(baseUrl, '/api/pull', { model: tag, stream: false }, signal);
    if (tag !== ctx.model) {
      await call(baseUrl, '/api/copy', { source: tag, destination: ctx.model }, signal);
    }
  },
};

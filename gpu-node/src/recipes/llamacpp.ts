// llama.cpp's llama-server in its official images: a GGUF file from the model cache or a
// URL the server downloads itself.
import type { RecipeOptions } from '../../../schema/recipes.ts';
import type { EngineSpec } from '../runtimes/types.ts';
import { containerSpec, pushFlag } from './container.ts';
import { parseOptionsForNode } from './parse.ts';
import { RecipeOptionsError, type Recipe, type RecipeContext } from './types.ts';

export const LLAMACPP_IMAGE_CUDA = 'ghcr.io/ggml-org/llama.cpp:server-cuda';
export const LLAMACPP_IMAGE_CPU = 'ghcr.io/ggml-org/llama.cpp:server';
const MODELS = '/models';

function isUrl(gguf: string): boolean {
  return /^https?:\/\//i.test(gguf);
}

export const llamacppRecipe: Recipe = {
  name: 'llamacpp',
  runtime: 'docker',
  parse(raw, gpuCountOnNode) {
    const parsed = parseOptionsForNode('llamacpp', raw, gpuCountOnNode);
    const gguf = (parsed.options as RecipeOptions['llamacpp']).gguf;
    // A cache path must stay inside the cache: no absolute paths, no way up and out.
    if (!isUrl(gguf) && (gguf.startsWith('/') || gguf.split('/').includes('..'))) {
      throw new RecipeOptionsError(
        `invalid option 'gguf' for recipe 'llamacpp': a path inside the model cache (no leading '/', no '..') or an http(s) URL`,
        'options.gguf',
      );
    }
    return parsed;
  },

  spec(raw, ctx: RecipeContext): EngineSpec {
    const options = raw as RecipeOptions['llamacpp'];
    const port = options.port ?? ctx.port;
    const gpus = ctx.gpuIndices.length > 0;
    const args = ['--host', '127.0.0.1', '--port', String(port), '--alias', ctx.model, '--metrics'];
    if (isUrl(options.gguf)) args.push('--model-url', options.gguf);
    else args.push('-m', `${MODELS}/${options.gguf}`);
    pushFlag(args, '-c', options.ctx_size);
    // Every layer on the GPU unless told otherwise; none without a GPU.
    pushFlag(args, '-ngl', options.n_gpu_layers ?? (gpus ? 999 : undefined));
    pushFlag(args, '-np', options.parallel);
    args.push(...(options.extra_args ?? []));
    return containerSpec(ctx, {
      image: options.image ?? (gpus ? LLAMACPP_IMAGE_CUDA : LLAMACPP_IMAGE_CPU),
      command: args,
      // --model-url downloads into LLAMA_CACHE: keep those files in the shared cache too.
      env: { LLAMA_CACHE: MODELS, ...options.env },
      port,
      healthPath: '/health',
      metricsPath: '/metrics',
      cachePath: MODELS,
      stopGraceSeconds: 10,
    });
  },
};

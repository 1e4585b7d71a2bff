// SGLang's server in its official image.
import type { RecipeOptions } from '../../../schema/recipes.ts';
import type { EngineSpec } from '../runtimes/types.ts';
import { containerSpec, huggingFaceEnv, pushFlag, shmSizeBytes } from './container.ts';
import { parseOptionsForNode } from './parse.ts';
import type { Recipe, RecipeContext } from './types.ts';
import { HF_CACHE } from './vllm.ts';

export const SGLANG_IMAGE = 'lmsysorg/sglang:v0.5.3';

export const sglangRecipe: Recipe = {
  name: 'sglang',
  runtime: 'docker',
  parse: (raw, gpuCountOnNode) => parseOptionsForNode('sglang', raw, gpuCountOnNode),

  spec(raw, ctx: RecipeContext): EngineSpec {
    const options = raw as RecipeOptions['sglang'];
    const port = options.port ?? ctx.port;
    if (options.diffusion) return diffusionSpec(options, ctx, port);
    const args = [
      'python3',
      '-m',
      'sglang.launch_server',
      '--model-path',
      options.model ?? ctx.model,
      '--served-model-name',
      ctx.model,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--tp-size',
      String(Math.max(1, ctx.gpuIndices.length)),
      // Prometheus metrics on /metrics, which the daemon scrapes for routing.
      '--enable-metrics',
    ];
    pushFlag(args, '--context-length', options.context_length);
    pushFlag(args, '--mem-fraction-static', options.mem_fraction_static);
    if (options.trust_remote_code) args.push('--trust-remote-code');
    args.push(...(options.extra_args ?? []));
    return containerSpec(ctx, {
      image: options.image ?? SGLANG_IMAGE,
      command: args,
      env: { HF_HOME: HF_CACHE, ...huggingFaceEnv(), ...options.env },
      port,
      healthPath: '/health',
      metricsPath: '/metrics',
      cachePath: HF_CACHE,
      shmSizeBytes: shmSizeBytes(options.shm_size ?? '16g'),
      stopGraceSeconds: 30,
    });
  },
};

// SGLang Diffusion: `sglang serve --model-path <model>` serves /v1/images/generations; it
// spreads one model over --num-gpus GPUs and has no Prometheus metrics.
function diffusionSpec(options: RecipeOptions['sglang'], ctx: RecipeContext, port: number) {
  const args = [
    'sglang',
    'serve',
    '--model-path',
    options.model ?? ctx.model,
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--num-gpus',
    String(Math.max(1, ctx.gpuIndices.length)),
  ];
  if (options.trust_remote_code) args.push('--trust-remote-code');
  args.push(...(options.extra_args ?? []));
  return containerSpec(ctx, {
    image: options.image ?? SGLANG_IMAGE,
    command: args,
    env: { HF_HOME: HF_CACHE, ...huggingFaceEnv(), ...options.env },
    port,
    healthPath: '/health',
    cachePath: HF_CACHE,
    shmSizeBytes: shmSizeBytes(options.shm_size ?? '16g'),
    stopGraceSeconds: 30,
  });
}

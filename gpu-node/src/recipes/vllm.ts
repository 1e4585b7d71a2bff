// vLLM's OpenAI-compatible server in its official image. The entrypoint is set explicitly
// to the api_server module (which takes --model) so the command does not depend on how a
// given image tag spells its entrypoint (`vllm serve` rejects --model).
import type { RecipeOptions } from '../../../schema/recipes.ts';
import type { EngineSpec } from '../runtimes/types.ts';
import { containerSpec, huggingFaceEnv, pushFlag, shmSizeBytes } from './container.ts';
import { parseOptionsForNode } from './parse.ts';
import type { Recipe, RecipeContext } from './types.ts';

export const VLLM_IMAGE = 'vllm/vllm-openai:v0.11.0';
// vLLM-Omni's image (vLLM with the omni-modality runtime), for `omni: true`.
export const VLLM_OMNI_IMAGE = 'vllm/vllm-omni:v0.14.0';
export const HF_CACHE = '/root/.cache/huggingface';

export const vllmRecipe: Recipe = {
  name: 'vllm',
  runtime: 'docker',
  parse: (raw, gpuCountOnNode) => parseOptionsForNode('vllm', raw, gpuCountOnNode),

  spec(raw, ctx: RecipeContext): EngineSpec {
    const options = raw as RecipeOptions['vllm'];
    const port = options.port ?? ctx.port;
    // vLLM-Omni is started as `vllm serve <model> --omni`, which takes the model as its
    // first argument rather than --model.
    const args = options.omni
      ? [options.model ?? ctx.model, '--omni']
      : ['--model', options.model ?? ctx.model];
    args.push(
      '--served-model-name',
      ctx.model,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--tensor-parallel-size',
      String(Math.max(1, ctx.gpuIndices.length)),
    );
    pushFlag(args, '--max-model-len', options.max_model_len);
    pushFlag(args, '--dtype', options.dtype);
    pushFlag(args, '--gpu-memory-utilization', options.gpu_memory_utilization);
    pushFlag(args, '--quantization', options.quantization);
    if (options.trust_remote_code) args.push('--trust-remote-code');
    args.push(...(options.extra_args ?? []));
    return containerSpec(ctx, {
      image: options.image ?? (options.omni ? VLLM_OMNI_IMAGE : VLLM_IMAGE),
      entrypoint: options.omni
        ? ['vllm', 'serve']
        : ['python3', '-m', 'vllm.entrypoints.openai.api_server'],
      command: args,
      env: { HF_HOME: HF_CACHE, ...huggingFaceEnv(), ...options.env },
      port,
      healthPath: '/health',
      metricsPath: '/metrics',
      cachePath: HF_CACHE,
      // NCCL and PyTorch workers share tensors through /dev/shm; Docker's 64 MB is too little.
      shmSizeBytes: shmSizeBytes(options.shm_size ?? '16g'),
      // Lets vLLM finish in-flight requests and free GPU memory cleanly.
      stopGraceSeconds: 30,
    });
  },
};

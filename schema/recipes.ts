// Options each engine recipe accepts. The gateway validates them when an operator creates
// or changes a deployment (so a typo is a 400 at once, not a failed container later); the
// node validates them again against its own GPUs before it starts anything.
// Every object is strict: an unknown option is an error naming it.
import { z } from 'zod';
import type { RecipeName } from './contracts.ts';

const image = z.string().min(1).max(512);

// The daemon binds every engine to 127.0.0.1 at a port it picks: only its proxy, which
// checks the gateway's JWT, may reach an engine, and containers share the host's network.
// So no option may move the engine's listener. vLLM, SGLang and llama.cpp take --host and
// --port (the last one given wins, and extra_args come last); vLLM and SGLang parse with
// argparse, which also takes `--port=N`, an unambiguous prefix such as `--hos`, and (vLLM)
// underscores for dashes.
const BIND_FLAGS = ['--host', '--port'] as const;

// The bind flag an extra argument sets, if any.
export function bindFlagOf(arg: string): string | undefined {
  const name = (arg.split('=')[0] ?? '').toLowerCase().replaceAll('_', '-');
  if (name.length < 3 || !name.startsWith('--')) return undefined;
  return BIND_FLAGS.find((flag) => flag.startsWith(name));
}

const extraArgs = z
  .array(z.string().max(4096))
  .max(128)
  .superRefine((args, ctx) => {
    for (const arg of args) {
      const flag = bindFlagOf(arg);
      if (!flag) continue;
      ctx.addIssue({
        code: 'custom',
        message:
          `'${arg}' is not allowed: the daemon sets ${flag} itself (engines listen on ` +
          '127.0.0.1 at a port the daemon picks; use the port option to choose the port)',
      });
      return;
    }
  });

const env = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().max(8192));

// An engine's environment, without the variables that would move its listener.
function envWithout(reserved: readonly string[]) {
  return env.superRefine((vars, ctx) => {
    for (const name of Object.keys(vars)) {
      if (!reserved.includes(name.toUpperCase())) continue;
      ctx.addIssue({
        code: 'custom',
        path: [name],
        message: `${name} is not allowed: the daemon sets where the engine listens (127.0.0.1 at a port it picks)`,
      });
      return;
    }
  });
}
// Docker's shm size as bytes or a string such as "16g".
const shmSize = z.union([
  z.number().int().positive(),
  z.string().regex(/^\d+(\.\d+)?[bkmg]?$/i, 'like 16g, 512m or a byte count'),
]);
const port = z.number().int().min(1).max(65535);
const gpus = z.number().int().min(0).max(64);

export const VllmOptionsSchema = z
  .object({
    // Hugging Face repo id or a path inside the model cache; defaults to the deployment's model name.
    model: z.string().min(1).max(512).optional(),
    image: image.optional(),
    gpus: gpus.optional(),
    port: port.optional(),
    max_model_len: z.number().int().positive().optional(),
    dtype: z.enum(['auto', 'half', 'float16', 'bfloat16', 'float', 'float32']).optional(),
    gpu_memory_utilization: z.number().gt(0).max(1).optional(),
    quantization: z.string().max(64).optional(),
    trust_remote_code: z.boolean().optional(),
    shm_size: shmSize.optional(),
    env: env.optional(),
    extra_args: extraArgs.optional(),
    // vLLM-Omni (`vllm serve <model> --omni`, its own image): diffusion models' image
    // generation (/v1/images/generations) and omni models' chat.
    omni: z.boolean().optional(),
  })
  .strict();

export const SglangOptionsSchema = z
  .object({
    model: z.string().min(1).max(512).optional(),
    image: image.optional(),
    gpus: gpus.optional(),
    port: port.optional(),
    context_length: z.number().int().positive().optional(),
    mem_fraction_static: z.number().gt(0).max(1).optional(),
    trust_remote_code: z.boolean().optional(),
    shm_size: shmSize.optional(),
    env: env.optional(),
    extra_args: extraArgs.optional(),
    // SGLang Diffusion (`sglang serve --model-path <model>`): image generation only.
    diffusion: z.boolean().optional(),
  })
  .strict();

export const OllamaOptionsSchema = z
  .object({
    // The Ollama model tag to pull (e.g. "llama3.2:1b"); defaults to the deployment's model name.
    model: z.string().min(1).max(256).optional(),
    image: image.optional(),
    gpus: gpus.optional(),
    port: port.optional(),
    // OLLAMA_HOST is where Ollama listens.
    env: envWithout(['OLLAMA_HOST']).optional(),
  })
  .strict();

export const LlamacppOptionsSchema = z
  .object({
    // A GGUF file: a path inside the model cache, or an http(s) URL the server downloads.
    gguf: z.string().min(1).max(2048),
    image: image.optional(),
    gpus: gpus.optional(),
    port: port.optional(),
    ctx_size: z.number().int().positive().optional(),
    n_gpu_layers: z.number().int().min(-1).optional(),
    parallel: z.number().int().positive().optional(),
    // llama-server also reads its flags from LLAMA_ARG_* variables.
    env: envWithout(['LLAMA_ARG_HOST', 'LLAMA_ARG_PORT']).optional(),
    extra_args: extraArgs.optional(),
  })
  .strict();

// The engine simulator: a test, demo and benchmark tool, not an inference engine.
export const SimOptionsSchema = z
  .object({
    image: image.optional(),
    port: port.optional(),
    gpus: gpus.optional(),
    seed: z.number().int().optional(),
    ttft_ms: z.number().min(0).max(600_000).optional(),
    prefill_ms_per_token: z.number().min(0).max(1000).optional(),
    itl_ms: z.number().min(0).max(60_000).optional(),
    jitter: z.number().min(0).max(1).optional(),
    max_num_seqs: z.number().int().positive().max(100_000).optional(),
    max_tokens: z.number().int().positive().max(1_000_000).optional(),
    prefix_cache_tokens: z.number().int().min(0).optional(),
    failure_rate: z.number().min(0).max(1).optional(),
    startup_delay_ms: z.number().min(0).max(600_000).optional(),
    // A fault: after this many requests the engine stops producing tokens (health stays
    // 200), for hang_ms (0: until restarted). 0 or absent: never.
    hang_after_requests: z.number().int().min(0).optional(),
    hang_ms: z.number().min(0).max(86_400_000).optional(),
    // One line on stdout per answered request, like vLLM's request log (off by default:
    // benchmarks run the simulator at thousands of requests per second).
    log_requests: z.boolean().optional(),
  })
  .strict();

// An OpenAI-compatible engine that already runs on the node; the daemon does not start it.
export const ExternalOptionsSchema = z
  .object({
    url: z
      .string()
      .max(2048)
      .refine((s) => /^https?:\/\//.test(s) && URL.canParse(s), 'must be an http(s) URL'),
    // Path probed for health, relative to url's origin (vLLM: /health, Ollama: /api/version).
    health_path: z.string().startsWith('/').max(512).optional(),
    // Sent as Authorization: Bearer to the engine, never to clients.
    api_key: z.string().max(4096).optional(),
    // The name the engine knows the model by, when it differs from the deployment's model.
    served_model_name: z.string().min(1).max(512).optional(),
    metrics_path: z.string().startsWith('/').max(512).optional(),
  })
  .strict();

export const RecipeOptionSchemas = {
  vllm: VllmOptionsSchema,
  sglang: SglangOptionsSchema,
  ollama: OllamaOptionsSchema,
  llamacpp: LlamacppOptionsSchema,
  sim: SimOptionsSchema,
  external: ExternalOptionsSchema,
} as const satisfies Record<RecipeName, z.ZodType>;

export type RecipeOptions = {
  [K in RecipeName]: z.infer<(typeof RecipeOptionSchemas)[K]>;
};

// GPUs a deployment gets when its options do not say: vLLM and SGLang need one; the
// others also run on CPU-only nodes.
export const DEFAULT_GPUS: Record<RecipeName, number> = {
  vllm: 1,
  sglang: 1,
  ollama: 0,
  llamacpp: 0,
  sim: 0,
  external: 0,
};

export type RecipeOptionsResult =
  | { ok: true; options: Record<string, unknown>; gpus: number }
  | { ok: false; message: string; param: string | null };

// Validates a recipe's options; on failure the message names the bad option.
export function parseRecipeOptions(recipe: RecipeName, raw: unknown): RecipeOptionsResult {
  const result = RecipeOptionSchemas[recipe].safeParse(raw ?? {});
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue?.path.join('.') ?? '';
    const keys =
      issue && issue.code === 'unrecognized_keys' ? issue.keys.map((k) => `'${k}'`).join(', ') : '';
    const message = keys
      ? `unknown option ${keys} for recipe '${recipe}'`
      : `invalid option${path ? ` '${path}'` : ''} for recipe '${recipe}': ${issue?.message ?? 'invalid'}`;
    const unknownKey =
      issue?.code === 'unrecognized_keys' && issue.keys.length === 1 ? issue.keys[0] : undefined;
    const paramPath = [path, unknownKey].filter(Boolean).join('.');
    return { ok: false, message, param: paramPath ? `options.${paramPath}` : 'options' };
  }
  const options = result.data as Record<string, unknown>;
  const gpuCount = typeof options.gpus === 'number' ? options.gpus : DEFAULT_GPUS[recipe];
  return { ok: true, options, gpus: gpuCount };
}

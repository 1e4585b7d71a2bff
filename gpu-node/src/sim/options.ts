// The simulator's settings. Names mirror SimOptionsSchema in schema/recipes.ts (camelCase
// here); the ranges are checked there, once, for both the CLI and deployments.
import { SimOptionsSchema } from '../../../schema/recipes.ts';

export interface SimOptions {
  // The name the simulator serves (vLLM's --model).
  model: string;
  // Names it answers to instead of `model` (vLLM's --served-model-name); the first one
  // labels the metrics.
  servedModelNames: string[];
  host: string;
  port: number;
  seed: number;
  ttftMs: number;
  prefillMsPerToken: number;
  itlMs: number;
  jitter: number;
  maxNumSeqs: number;
  // The most tokens one answer may have (the model's own limit).
  maxTokens: number;
  // Prefix-cache capacity in tokens; 0 turns the cache off.
  prefixCacheTokens: number;
  failureRate: number;
  startupDelayMs: number;
  // A fault: after this many requests (0: never) the engine stops producing tokens, for
  // hangMs (0: until restarted), while /health keeps answering 200.
  hangAfterRequests: number;
  hangMs: number;
  // One stdout line per answered request (method, path, status, time, request id).
  logRequests: boolean;
}

// Chosen to look like a small model on one GPU: answers stream at ~60 tokens/s.
export const DEFAULT_SIM_OPTIONS: Omit<SimOptions, 'model'> = {
  servedModelNames: [],
  host: '127.0.0.1',
  port: 8000,
  seed: 0,
  ttftMs: 50,
  prefillMsPerToken: 0.05,
  itlMs: 15,
  jitter: 0,
  maxNumSeqs: 256,
  maxTokens: 4096,
  prefixCacheTokens: 65_536,
  failureRate: 0,
  startupDelayMs: 0,
  hangAfterRequests: 0,
  hangMs: 0,
  logRequests: false,
};

// The tunables, in the recipe schema's snake_case, for validation.
export const TunableSchema = SimOptionsSchema.omit({
  image: true,
  port: true,
  gpus: true,
  log_requests: true,
});

export const TUNABLE_KEYS = {
  seed: 'seed',
  ttft_ms: 'ttftMs',
  prefill_ms_per_token: 'prefillMsPerToken',
  itl_ms: 'itlMs',
  jitter: 'jitter',
  max_num_seqs: 'maxNumSeqs',
  max_tokens: 'maxTokens',
  prefix_cache_tokens: 'prefixCacheTokens',
  failure_rate: 'failureRate',
  startup_delay_ms: 'startupDelayMs',
  hang_after_requests: 'hangAfterRequests',
  hang_ms: 'hangMs',
} as const satisfies Record<string, keyof SimOptions>;

export function resolveOptions(
  opts: Partial<SimOptions> & { model: string; port?: number; host?: string },
): SimOptions {
  // Keys given as undefined keep their defaults instead of erasing them.
  const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
  const merged: SimOptions = { ...DEFAULT_SIM_OPTIONS, port: 0, ...given, model: opts.model };
  const tunables: Record<string, unknown> = {};
  for (const [snake, camel] of Object.entries(TUNABLE_KEYS)) tunables[snake] = merged[camel];
  const checked = TunableSchema.safeParse(tunables);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new Error(
      `invalid simulator option '${issue?.path.join('.') ?? '?'}': ${issue?.message ?? ''}`,
    );
  }
  if (!merged.model) throw new Error('the simulator needs a model name');
  return merged;
}

// Whether a request's `model` is one this simulator serves.
export function servedNames(opts: SimOptions): string[] {
  return opts.servedModelNames.length > 0 ? opts.servedModelNames : [opts.model];
}

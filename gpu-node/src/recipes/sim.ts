// The engine simulator (gpu-node/src/sim) as a recipe: a child process of the daemon by
// default, or a container when an image is given (the docker runtime's sim image).
import { fileURLToPath } from 'node:url';
import type { RecipeOptions } from '../../../schema/recipes.ts';
import type { EngineSpec } from '../runtimes/types.ts';
import { parseOptionsForNode } from './parse.ts';
import type { Recipe, RecipeContext } from './types.ts';

// Compiled (dist/, see build.ts) the simulator is JavaScript next to this module; from the
// sources it runs through tsx.
const COMPILED = import.meta.url.endsWith('.js');
const SIM_MAIN = fileURLToPath(
  new URL(COMPILED ? '../sim/main.js' : '../sim/main.ts', import.meta.url),
);
const LOADER = COMPILED ? [] : ['--import', 'tsx'];
// The package root: where `--import tsx` resolves from.
const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const FLAGS: [keyof RecipeOptions['sim'], string][] = [
  ['seed', '--seed'],
  ['ttft_ms', '--ttft-ms'],
  ['prefill_ms_per_token', '--prefill-ms-per-token'],
  ['itl_ms', '--itl-ms'],
  ['jitter', '--jitter'],
  ['max_num_seqs', '--max-num-seqs'],
  ['max_tokens', '--max-tokens'],
  ['prefix_cache_tokens', '--prefix-cache-tokens'],
  ['failure_rate', '--failure-rate'],
  ['startup_delay_ms', '--startup-delay-ms'],
  ['hang_after_requests', '--hang-after-requests'],
  ['hang_ms', '--hang-ms'],
];

export function simArgs(options: RecipeOptions['sim'], port: number, model: string): string[] {
  const args = ['--port', String(port), '--model', model];
  for (const [key, flag] of FLAGS) {
    const value = options[key];
    if (value !== undefined) args.push(flag, String(value));
  }
  if (options.log_requests === true) args.push('--log-requests');
  return args;
}

export const simRecipe: Recipe = {
  name: 'sim',
  runtime: 'process',
  parse: (raw, gpuCountOnNode) => parseOptionsForNode('sim', raw, gpuCountOnNode),
  runtimeFor: (options) => (typeof options.image === 'string' ? 'docker' : 'process'),

  spec(raw, ctx: RecipeContext): EngineSpec {
    const options = raw as RecipeOptions['sim'];
    const port = options.port ?? ctx.port;
    const args = simArgs(options, port, ctx.model);
    const base = {
      instanceId: ctx.instanceId,
      deploymentId: ctx.deploymentId,
      nodeId: ctx.nodeId,
      model: ctx.model,
      env: {},
      port,
      healthPath: '/health',
      metricsPath: '/metrics',
      gpuIndices: ctx.gpuIndices,
      stopGraceSeconds: 5,
    };
    if (options.image) return { ...base, image: options.image, command: args };
    return {
      ...base,
      command: [process.execPath, ...LOADER, SIM_MAIN, ...args],
      cwd: PACKAGE_ROOT,
    };
  },
};

// What the container recipes (vllm, sglang, ollama, llamacpp) have in common: the base of
// their EngineSpec, the shared model-cache mount, shm sizes and Hugging Face credentials.
import type { EngineSpec } from '../runtimes/types.ts';
import type { RecipeContext } from './types.ts';

const UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

// Docker's shm size notation ("16g", "512m", "1.5g" or a byte count) in bytes.
export function shmSizeBytes(size: number | string): number {
  if (typeof size === 'number') return size;
  const match = /^(\d+(?:\.\d+)?)([bkmg]?)$/i.exec(size.trim());
  if (!match) throw new Error(`invalid shm size '${size}'`);
  const unit = UNITS[(match[2] ?? '').toLowerCase() || 'b'] ?? 1;
  return Math.round(Number(match[1]) * unit);
}

// Credentials for gated Hugging Face models come from the daemon's own environment, so
// they never pass through the gateway or its database.
export function huggingFaceEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  if (env.HF_TOKEN) out.HF_TOKEN = env.HF_TOKEN;
  return out;
}

export interface ContainerParts {
  image: string;
  entrypoint?: string[];
  command: string[];
  env: Record<string, string>;
  port: number;
  healthPath: string;
  metricsPath?: string;
  // Where the engine keeps downloaded weights inside the container.
  cachePath: string;
  shmSizeBytes?: number;
  stopGraceSeconds: number;
}

export function containerSpec(ctx: RecipeContext, parts: ContainerParts): EngineSpec {
  const spec: EngineSpec = {
    instanceId: ctx.instanceId,
    deploymentId: ctx.deploymentId,
    nodeId: ctx.nodeId,
    model: ctx.model,
    image: parts.image,
    command: parts.command,
    env: parts.env,
    port: parts.port,
    healthPath: parts.healthPath,
    gpuIndices: [...ctx.gpuIndices],
    // One cache for every engine on the node: weights are downloaded once.
    volumes: [{ source: ctx.modelCache, target: parts.cachePath }],
    stopGraceSeconds: parts.stopGraceSeconds,
  };
  if (parts.entrypoint) spec.entrypoint = parts.entrypoint;
  if (parts.metricsPath) spec.metricsPath = parts.metricsPath;
  if (parts.shmSizeBytes !== undefined) spec.shmSizeBytes = parts.shmSizeBytes;
  return spec;
}

// Pushes `flag value` when the value is set.
export function pushFlag(args: string[], flag: string, value: string | number | undefined): void {
  if (value !== undefined) args.push(flag, String(value));
}

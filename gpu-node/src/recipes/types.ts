// A recipe says how to run one engine: what the runtime starts, which port and health
// path it answers on, and what must happen before it is ready.
import type { RecipeName } from '../../../schema/contracts.ts';
import type { EngineSpec, RuntimeKind } from '../runtimes/types.ts';

export interface RecipeContext {
  nodeId: string;
  instanceId: string;
  deploymentId: string;
  // The model name clients use.
  model: string;
  // GPU indices assigned to this instance by the daemon.
  gpuIndices: number[];
  // A free local port the daemon chose, used when the options name none.
  port: number;
  // Docker volume (or host folder for the process runtime) shared by every engine on the
  // node, so weights are downloaded once.
  modelCache: string;
}

export class RecipeOptionsError extends Error {
  override readonly name = 'RecipeOptionsError';
  constructor(
    message: string,
    readonly param: string | null,
  ) {
    super(message);
  }
}

// Where and how the daemon reaches an engine: for health checks, metric scrapes and the
// proxy. The supervisor builds it from an EngineSpec's port and paths; recipes with runtime
// 'none' return it from upstream().
export interface EngineEndpoint {
  // Origin plus an optional path prefix, without a trailing slash.
  baseUrl: string;
  healthUrl: string;
  metricsUrl?: string;
  // Sent with every upstream call (e.g. the engine's own API key); never shown to clients.
  headers: Record<string, string>;
  // Replaces `model` in forwarded JSON bodies when the engine knows the model by another name.
  servedModelName?: string;
}

// An engine the daemon does not start (runtime 'none'): where it already runs.
export type UpstreamEngine = EngineEndpoint;

export interface Recipe {
  readonly name: RecipeName;
  // Validates raw options (schema/recipes.ts) and checks them against the node's GPUs.
  // Throws RecipeOptionsError.
  parse(raw: unknown, gpuCountOnNode: number): { options: Record<string, unknown>; gpus: number };
  // The runtime this recipe uses by default on this node.
  readonly runtime: RuntimeKind | 'none';
  // When the runtime depends on the options (e.g. the simulator in a container when an
  // image is given); otherwise `runtime` applies.
  runtimeFor?(options: Record<string, unknown>): RuntimeKind | 'none';
  spec(options: Record<string, unknown>, ctx: RecipeContext): EngineSpec;
  // Recipes with runtime 'none' say where the engine runs instead of how to start it.
  upstream?(options: Record<string, unknown>, ctx: RecipeContext): UpstreamEngine;
  // Work after the health check passes and before `ready` (e.g. Ollama's model pull).
  prepare?(
    baseUrl: string,
    options: Record<string, unknown>,
    ctx: RecipeContext,
    signal: AbortSignal,
  ): Promise<void>;
}

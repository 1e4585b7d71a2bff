// An OpenAI-compatible engine that already runs at a URL (an operator's own vLLM or
// Ollama). The daemon does not start it; it health-checks, meters and proxies it.
import type { RecipeOptions } from '../../../schema/recipes.ts';
import type { EngineSpec } from '../runtimes/types.ts';
import { parseOptionsForNode } from './parse.ts';
import type { Recipe, RecipeContext, UpstreamEngine } from './types.ts';

// Requests arrive as /v1/...; an operator may give the URL with or without that /v1.
function baseUrlOf(url: string): string {
  const u = new URL(url);
  const path = u.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
  return `${u.origin}${path}`;
}

export function externalUpstream(raw: Record<string, unknown>): UpstreamEngine {
  const options = raw as RecipeOptions['external'];
  const origin = new URL(options.url).origin;
  const upstream: UpstreamEngine = {
    baseUrl: baseUrlOf(options.url),
    // Health and metrics paths are relative to the origin, not to a /v1 base.
    healthUrl: `${origin}${options.health_path ?? '/health'}`,
    headers: options.api_key ? { authorization: `Bearer ${options.api_key}` } : {},
  };
  if (options.metrics_path) upstream.metricsUrl = `${origin}${options.metrics_path}`;
  if (options.served_model_name) upstream.servedModelName = options.served_model_name;
  return upstream;
}

export const externalRecipe: Recipe = {
  name: 'external',
  runtime: 'none',
  parse: (raw, gpuCountOnNode) => parseOptionsForNode('external', raw, gpuCountOnNode),
  upstream: (options) => externalUpstream(options),

  // Nothing is started; the spec only describes where the engine listens.
  spec(raw, ctx: RecipeContext): EngineSpec {
    const options = raw as RecipeOptions['external'];
    const url = new URL(options.url);
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    return {
      instanceId: ctx.instanceId,
      deploymentId: ctx.deploymentId,
      nodeId: ctx.nodeId,
      model: ctx.model,
      command: [],
      env: {},
      port,
      healthPath: options.health_path ?? '/health',
      ...(options.metrics_path ? { metricsPath: options.metrics_path } : {}),
      gpuIndices: ctx.gpuIndices,
    };
  },
};

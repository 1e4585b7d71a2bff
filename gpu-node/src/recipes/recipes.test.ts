import { describe, expect, it } from 'vitest';
import { externalRecipe } from './external.ts';
import { simRecipe } from './sim.ts';
import { RecipeOptionsError, type RecipeContext } from './types.ts';
import { runtimeKindFor } from '../runtimes/index.ts';

const ctx: RecipeContext = {
  nodeId: 'n1',
  instanceId: 'i1',
  deploymentId: 'd1',
  model: 'my-model',
  gpuIndices: [],
  port: 41000,
  modelCache: '/cache',
};

describe('sim recipe', () => {
  it('runs the simulator as a process with its options as flags', () => {
    const { options } = simRecipe.parse({ seed: 7, ttft_ms: 80, itl_ms: 25, max_tokens: 64 }, 0);
    const spec = simRecipe.spec(options, ctx);
    expect(runtimeKindFor(simRecipe, options)).toBe('process');
    expect(spec.command.slice(0, 3)).toEqual([process.execPath, '--import', 'tsx']);
    expect(spec.command[3]).toMatch(/gpu-node\/src\/sim\/main\.ts$/);
    expect(spec.command.slice(4)).toEqual([
      '--port',
      '41000',
      '--model',
      'my-model',
      '--seed',
      '7',
      '--ttft-ms',
      '80',
      '--itl-ms',
      '25',
      '--max-tokens',
      '64',
    ]);
    expect(spec).toMatchObject({ port: 41000, healthPath: '/health', metricsPath: '/metrics' });
  });

  it('uses the docker runtime when an image is given, and validates options', () => {
    const { options } = simRecipe.parse({ image: 'fleetgate/sim:test', port: 9000 }, 0);
    expect(runtimeKindFor(simRecipe, options)).toBe('docker');
    const spec = simRecipe.spec(options, ctx);
    expect(spec.image).toBe('fleetgate/sim:test');
    expect(spec.command).toEqual(['--port', '9000', '--model', 'my-model']);
    expect(() => simRecipe.parse({ sed: 1 }, 0)).toThrow(RecipeOptionsError);
    expect(() => simRecipe.parse({ gpus: 1 }, 0)).toThrow(/this node has 0/);
  });
});

describe('external recipe', () => {
  it('points at the engine URL, with its key and model name', () => {
    const { options } = externalRecipe.parse(
      {
        url: 'http://127.0.0.1:8000/v1/',
        api_key: 'k',
        served_model_name: 'llama',
        metrics_path: '/metrics',
      },
      0,
    );
    expect(runtimeKindFor(externalRecipe, options)).toBe('none');
    expect(externalRecipe.upstream?.(options, ctx)).toEqual({
      baseUrl: 'http://127.0.0.1:8000',
      healthUrl: 'http://127.0.0.1:8000/health',
      metricsUrl: 'http://127.0.0.1:8000/metrics',
      headers: { authorization: 'Bearer k' },
      servedModelName: 'llama',
    });
    const ollama = externalRecipe.parse(
      { url: 'http://10.0.0.2:11434', health_path: '/api/version' },
      0,
    );
    expect(externalRecipe.upstream?.(ollama.options, ctx)).toEqual({
      baseUrl: 'http://10.0.0.2:11434',
      healthUrl: 'http://10.0.0.2:11434/api/version',
      headers: {},
    });
    expect(() => externalRecipe.parse({ url: 'file:///etc/passwd' }, 0)).toThrow(
      RecipeOptionsError,
    );
  });
});

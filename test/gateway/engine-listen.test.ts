// Engines listen on 127.0.0.1 whatever a deployment's options say: the admin API refuses
// options that would move an engine's listener, on create and on change, naming the option.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeploymentSchema } from '../../schema/admin.ts';
import {
  expectError,
  startGatewayHarness,
  type GatewayHarness,
} from '../support/gateway-harness.ts';

describe('deployment options that would move an engine listener', () => {
  let h: GatewayHarness;

  beforeAll(async () => {
    h = await startGatewayHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('are refused with 400 on create', async () => {
    const cases = [
      {
        recipe: 'vllm',
        options: { extra_args: ['--host', '0.0.0.0'] },
        param: 'options.extra_args',
      },
      { recipe: 'sglang', options: { extra_args: ['--port=30000'] }, param: 'options.extra_args' },
      {
        recipe: 'llamacpp',
        options: { gguf: 'm.gguf', extra_args: ['--hos', '0.0.0.0'] },
        param: 'options.extra_args',
      },
      {
        recipe: 'ollama',
        options: { env: { OLLAMA_HOST: '0.0.0.0' } },
        param: 'options.env.OLLAMA_HOST',
      },
    ];
    for (const c of cases) {
      const error = expectError(
        await h.admin('POST', '/deployments', { model: 'm', recipe: c.recipe, options: c.options }),
        400,
      );
      expect(error.param).toBe(c.param);
      expect(error.type).toBe('invalid_request_error');
      expect(error.message).toMatch(/is not allowed/);
    }
  });

  it('are refused with 400 on change, and the deployment keeps its options', async () => {
    const created = await h.adminOk(DeploymentSchema, 'POST', '/deployments', {
      model: 'listen-m',
      recipe: 'vllm',
      options: { extra_args: ['--enable-prefix-caching'] },
      replicas: 0,
    });
    const error = expectError(
      await h.admin('PATCH', `/deployments/${created.body.id}`, {
        options: { extra_args: ['--enable-prefix-caching', '--host=::'] },
      }),
      400,
    );
    expect(error.param).toBe('options.extra_args');
    expect(error.message).toContain("'--host=::'");
    const kept = await h.adminOk(DeploymentSchema, 'GET', `/deployments/${created.body.id}`);
    expect(kept.body.options).toEqual({ extra_args: ['--enable-prefix-caching'] });
  });
});

// Deployments say which OpenAI paths they serve (schema/endpoints.ts): the admin API shows
// the list, a path none of a model's deployments serves is a 404 from the gateway, and where
// a model's deployments differ, each path goes only to the instances that serve it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DeploymentSchema } from '../../schema/admin.ts';
import { startFakeEngine, type FakeEngine } from '../../gateway/src/testing/fake-engine.ts';
import {
  expectError,
  startGatewayHarness,
  type GatewayHarness,
} from '../support/gateway-harness.ts';

const Answer = z.looseObject({});

describe('endpoints per deployment', () => {
  let h: GatewayHarness;
  let engine: FakeEngine;
  let key: string;
  let omniInstance: string;
  let sglangInstance: string;

  beforeAll(async () => {
    h = await startGatewayHarness();
    engine = await startFakeEngine({ jwks: () => h.signer.jwks() });
    const node = await h.registerNode('gpu-box', engine.url, 2);
    const deploy = async (model: string, recipe: string, options: Record<string, unknown>) => {
      const dep = await h.adminOk(DeploymentSchema, 'POST', '/deployments', {
        model,
        recipe,
        options,
        placement: { node_id: node.node_id },
      });
      const instance = dep.body.instances[0];
      if (!instance) throw new Error(`${model} not placed`);
      return { dep: dep.body, instance: instance.id };
    };
    // One model name, two engines: vLLM-Omni (images, chat) and SGLang (text, scoring).
    const omni = await deploy('mixed', 'vllm', { omni: true });
    const sglang = await deploy('mixed', 'sglang', {});
    omniInstance = omni.instance;
    sglangInstance = sglang.instance;
    expect(omni.dep.endpoints).toEqual(['/v1/images/generations', '/v1/chat/completions']);
    expect(sglang.dep.endpoints).not.toContain('/v1/images/generations');
    expect(sglang.dep.endpoints).toContain('/v1/rerank');
    await h.heartbeat(
      node.node_secret,
      [
        { instance_id: omni.instance, deployment_id: omni.dep.id, state: 'ready' },
        { instance_id: sglang.instance, deployment_id: sglang.dep.id, state: 'ready' },
      ],
      2,
    );
    key = (await h.createKey({ name: 'caller' })).key;
  });
  afterAll(async () => {
    await engine.close();
    await h.close();
  });

  const instancesFor = async (path: string, body: Record<string, unknown>, times: number) => {
    const seen = new Set<unknown>();
    for (let i = 0; i < times; i++) {
      const res = await h.callOk(Answer, 'POST', path, { token: key, body });
      const requestId = res.headers.get('x-request-id');
      seen.add(engine.received.find((r) => r.claims?.jti === requestId)?.claims?.instance);
    }
    return [...seen];
  };

  it('routes each path only to the deployments that serve it', async () => {
    const rerank = { model: 'mixed', query: 'q', documents: ['a', 'b'] };
    expect(await instancesFor('/v1/rerank', rerank, 4)).toEqual([sglangInstance]);
    const images = { model: 'mixed', prompt: 'a cat' };
    expect(await instancesFor('/v1/images/generations', images, 4)).toEqual([omniInstance]);
  });

  it('answers 404 endpoint_not_supported for a path no deployment of the model serves', async () => {
    const node = await h.registerNode('other-box', engine.url, 1);
    const dep = await h.adminOk(DeploymentSchema, 'POST', '/deployments', {
      model: 'painter',
      recipe: 'sglang',
      options: { diffusion: true },
      placement: { node_id: node.node_id },
    });
    expect(dep.body.endpoints).toEqual(['/v1/images/generations']);
    // Past the routing table's cache.
    h.clock.advance(h.config.cacheTtlMs);
    const error = expectError(
      await h.call('POST', '/v1/chat/completions', {
        token: key,
        body: { model: 'painter', messages: [{ role: 'user', content: 'hi' }] },
      }),
      404,
    );
    expect(error).toMatchObject({ code: 'endpoint_not_supported', param: 'model' });
    expect(error.message).toContain('/v1/chat/completions');
    // The model list still shows every model that has a ready instance.
    const models = await h.call('GET', '/v1/models', { token: key });
    const list = z.object({ data: z.array(z.looseObject({ id: z.string() })) }).parse(models.body);
    expect(list.data.map((m) => m.id)).toContain('mixed');
  });
});

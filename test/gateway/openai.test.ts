// A request on /v1 through the whole app: API-key auth, routing to a ready instance on a node
// (a real HTTP engine on 127.0.0.1), the node JWT, usage recorded, and a model the key may
// not use refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DeploymentSchema, UsageEventListSchema } from '../../schema/admin.ts';
import {
  ENGINE_USAGE,
  startFakeEngine,
  type FakeEngine,
} from '../../gateway/src/testing/fake-engine.ts';
import {
  expectError,
  startGatewayHarness,
  type GatewayHarness,
} from '../support/gateway-harness.ts';

// Only what this test reads of a chat completion (the OpenAI SDK tests check the rest).
const CompletionUsageSchema = z.looseObject({ usage: z.unknown() });

describe('requests through the whole app', () => {
  let h: GatewayHarness;
  let engine: FakeEngine;

  beforeAll(async () => {
    h = await startGatewayHarness();
    engine = await startFakeEngine({ jwks: () => h.signer.jwks() });
  });
  afterAll(async () => {
    await engine.close();
    await h.close();
  });

  it('authenticates, routes to a ready instance and records usage', async () => {
    const node = await h.registerNode('serving', engine.url);
    const dep = await h.adminOk(DeploymentSchema, 'POST', '/deployments', {
      model: 'served-model',
      recipe: 'external',
      options: { url: engine.url },
      placement: { node_id: node.node_id },
    });
    const instance = dep.body.instances[0];
    if (!instance) throw new Error('not placed');
    await h.heartbeat(node.node_secret, [
      { instance_id: instance.id, deployment_id: dep.body.id, state: 'ready' },
    ]);
    const key = await h.createKey({ name: 'caller', models: ['served-model'] });
    const res = await h.callOk(CompletionUsageSchema, 'POST', '/v1/chat/completions', {
      token: key.key,
      body: { model: 'served-model', messages: [{ role: 'user', content: 'hi' }] },
    });
    expect(res.status).toBe(200);
    expect(res.body.usage).toEqual(ENGINE_USAGE);
    const requestId = res.headers.get('x-request-id') ?? '';
    expect(engine.received.at(-1)?.claims).toMatchObject({
      aud: node.node_id,
      jti: requestId,
      instance: instance.id,
    });
    await expect
      .poll(async () => {
        const events = await h.adminOk(UsageEventListSchema, 'GET', '/usage/events?limit=10');
        return events.body.data.find((e) => e.id === requestId);
      })
      .toMatchObject({ key_id: key.id, total_tokens: ENGINE_USAGE.total_tokens });

    const forbidden = expectError(
      await h.call('POST', '/v1/chat/completions', {
        token: key.key,
        body: { model: 'other-model', messages: [] },
      }),
      403,
    );
    expect(forbidden.type).toBe('permission_error');
  });
});

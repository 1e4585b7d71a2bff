// The gateway and a gpu-node daemon as real processes, at the edges of the data plane: a
// body the node refuses as too large, reaching the client as the node's 413; the longest
// log tail the gateway allows.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDeployment,
  startGateway,
  startNode,
  waitForReady,
  type Gateway,
  type GpuNode,
} from '../support/stack.ts';

const MODEL = `edge-sim-${process.pid}`;
const MIB = 1024 * 1024;

let dir: string;
let gateway: Gateway;
let node: GpuNode;
let apiKey: string;
let client: OpenAI;
let deploymentId: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-edges-'));
  gateway = await startGateway({
    dataDir: dir,
    adminToken: 'edges-admin-token-0123456789',
    env: { FLEETGATE_MAX_BODY_BYTES: String(4 * MIB) },
  });
  // The node reads less than the gateway forwards, as an operator may configure it.
  node = await startNode({
    gateway,
    name: 'edges-node',
    configPath: join(dir, 'node.json'),
    env: { FLEETGATE_NODE_MAX_BODY_BYTES: String(MIB) },
  });
  const deployment = await createDeployment(gateway, {
    model: MODEL,
    recipe: 'sim',
    options: { ttft_ms: 1, itl_ms: 1, max_tokens: 8, seed: 7 },
    replicas: 1,
  });
  deploymentId = deployment.id;
  await waitForReady(gateway, deployment.id, 60_000);
  apiKey = (await gateway.admin.request<{ key: string }>('POST', '/keys', { name: 'edges' })).key;
  client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey, maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await node?.service.stop();
  await gateway?.service.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a body over the node limit', () => {
  it("reaches the client as the node's 413, not retried into a 502", async () => {
    const body = JSON.stringify({
      model: MODEL,
      messages: [{ role: 'user', content: 'x'.repeat(2 * MIB) }],
    });
    for (let i = 0; i < 5; i += 1) {
      const res = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body,
      });
      expect(res.status).toBe(413);
      const answer = await res.json<{ error: { code: string; message: string; type: string } }>();
      expect(answer.error).toMatchObject({
        code: 'request_too_large',
        type: 'invalid_request_error',
      });
      expect(answer.error.message).toMatch(/this node's limit of 1048576 bytes/);
    }
    await expect(
      client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'y'.repeat(2 * MIB) }],
      }),
    ).rejects.toMatchObject({ status: 413 });
    // The node's connections stay usable for requests that fit.
    const small = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hello' }],
    });
    expect(small.choices[0]?.message.content).toBeTruthy();
  });
});

describe('engine logs', () => {
  it('reads as many lines as the gateway allows from the node', async () => {
    for (const tail of [5001, 10_000]) {
      const logs = await gateway.admin.request<{ data: string[]; instance_id: string }>(
        'GET',
        `/deployments/${deploymentId}/logs?tail=${tail}`,
      );
      expect(logs.data.length).toBeGreaterThan(0);
      expect(logs.data.length).toBeLessThanOrEqual(tail);
    }
    await expect(
      gateway.admin.request('GET', `/deployments/${deploymentId}/logs?tail=10001`),
    ).rejects.toMatchObject({ status: 400 });
  });
});

// Deployments (/admin/v1/deployments) and the node control plane that carries them out:
// validation, placement over nodes with room, the desired set in heartbeat answers, the
// state nodes report, scaling and re-spec, offline nodes and removed nodes.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  DeletedDeploymentSchema,
  DeletedNodeSchema,
  DeploymentListSchema,
  DeploymentSchema,
  NodeListSchema,
  NodeSchema,
  type Deployment,
} from '../../schema/admin.ts';
import type { RegisterResponse } from '../../schema/contracts.ts';
import { deploymentInstances } from '../../schema/db.ts';
import {
  expectError,
  HEARTBEAT_S,
  startGatewayHarness,
  type GatewayHarness,
} from '../support/gateway-harness.ts';

describe('deployments, placement and heartbeats', () => {
  let h: GatewayHarness;
  let nodeA: RegisterResponse;
  let nodeB: RegisterResponse;

  beforeAll(async () => {
    h = await startGatewayHarness();
    nodeA = await h.registerNode('place-a', 'http://127.0.0.1:9', 2);
    nodeB = await h.registerNode('place-b', 'http://127.0.0.1:9', 1);
  });
  afterAll(async () => {
    await h.close();
  });

  beforeEach(async () => {
    // Both nodes online at the current clock.
    expect((await h.heartbeat(nodeA.node_secret, [], 2)).status).toBe(200);
    expect((await h.heartbeat(nodeB.node_secret, [], 1)).status).toBe(200);
  });

  it('refuses heartbeats without a valid node secret', async () => {
    expectError(
      await h.call('POST', '/node/v1/heartbeat', { body: {} }),
      401,
      'invalid_node_credentials',
    );
    expectError(await h.sendHeartbeat(`fgn-${'C'.repeat(43)}`), 401, 'invalid_node_secret');
    expectError(await h.sendHeartbeat('fgr-not-a-node-secret'), 401, 'invalid_node_secret');
    const bad = expectError(
      await h.call('POST', '/node/v1/heartbeat', { token: nodeA.node_secret, body: { gpus: [] } }),
      400,
    );
    expect(bad.param).toBe('daemon_version');
  });

  it('validates deployments, naming the bad option', async () => {
    const unknown = expectError(
      await h.admin('POST', '/deployments', { model: 'm', recipe: 'sim', options: { ttft: 5 } }),
      400,
      'invalid_recipe_option',
    );
    expect(unknown.message).toContain("'ttft'");
    const badValue = expectError(
      await h.admin('POST', '/deployments', {
        model: 'm',
        recipe: 'sim',
        options: { ttft_ms: -1 },
      }),
      400,
    );
    expect(badValue.param).toBe('options.ttft_ms');
    const recipe = expectError(
      await h.admin('POST', '/deployments', { model: 'm', recipe: 'tgi' }),
      400,
    );
    expect(recipe.param).toBe('recipe');
    const replicas = expectError(
      await h.admin('POST', '/deployments', { model: 'm', recipe: 'sim', replicas: 65 }),
      400,
    );
    expect(replicas.param).toBe('replicas');
    const node = expectError(
      await h.admin('POST', '/deployments', {
        model: 'm',
        recipe: 'sim',
        placement: { node_id: 'node_missing' },
      }),
      400,
      'node_not_found',
    );
    expect(node.param).toBe('placement.node_id');
    const placement = expectError(
      await h.admin('POST', '/deployments', {
        model: 'm',
        recipe: 'sim',
        placement: { zone: 'x' },
      }),
      400,
    );
    expect(placement.message).toContain("'zone'");
    const gpus = expectError(
      await h.admin('POST', '/deployments', {
        model: 'm',
        recipe: 'vllm',
        options: { gpus: 2 },
        placement: { node_id: nodeB.node_id },
      }),
      400,
      'insufficient_gpus',
    );
    expect(gpus.message).toContain('1 GPU');
    expectError(await h.admin('POST', '/deployments', { model: 'has space', recipe: 'sim' }), 400);
  });

  it('places a deployment, tells the node in its heartbeat, and records reported state', async () => {
    const created = await h.adminOk(DeploymentSchema, 'POST', '/deployments', {
      model: 'org/placed-model',
      recipe: 'sim',
      options: { ttft_ms: 5 },
      placement: { node_id: nodeA.node_id },
    });
    expect(created.status).toBe(201);
    expect(created.body.replicas).toBe(1);
    const [instance] = created.body.instances;
    expect(instance).toMatchObject({ node_id: nodeA.node_id, replica: 0, state: 'pending' });
    if (!instance) throw new Error('no instance');

    const hb = await h.heartbeat(nodeA.node_secret, [], 2);
    expect(hb.body.node_id).toBe(nodeA.node_id);
    expect(hb.body.jwks).toEqual(h.signer.jwks());
    expect(hb.body.desired).toContainEqual({
      instance_id: instance.id,
      deployment_id: created.body.id,
      model: 'org/placed-model',
      recipe: 'sim',
      options: { ttft_ms: 5 },
      gpus: 0,
    });
    // The other node is not told to run it, and cannot report on it.
    const other = await h.heartbeat(
      nodeB.node_secret,
      [{ instance_id: instance.id, deployment_id: created.body.id, state: 'failed' }],
      1,
    );
    expect(other.body.desired.map((d) => d.instance_id)).not.toContain(instance.id);

    await h.heartbeat(
      nodeA.node_secret,
      [
        {
          instance_id: instance.id,
          deployment_id: created.body.id,
          state: 'pulling',
          progress: { bytes: 5e6, total_bytes: 10e6, percent: 50 },
          gpu_indices: [1],
          metrics: { kv_cache_usage: 0.25 },
        },
      ],
      2,
    );
    const shown = await h.adminOk(DeploymentSchema, 'GET', `/deployments/${created.body.id}`);
    expect(shown.body.instances[0]).toMatchObject({
      id: instance.id,
      state: 'pulling',
      gpu_indices: [1],
    });
    expect(shown.body.instances[0]?.detail).toContain('50%');
    const node = await h.adminOk(NodeSchema, 'GET', `/nodes/${nodeA.node_id}`);
    expect(node.body.status).toBe('online');
    expect(node.body.instances.map((i) => i.id)).toContain(instance.id);

    // Deleting the deployment empties the node's desired set.
    expect(
      (await h.adminOk(DeletedDeploymentSchema, 'DELETE', `/deployments/${created.body.id}`)).body,
    ).toEqual({
      id: created.body.id,
      object: 'deployment',
      deleted: true,
    });
    const after = await h.heartbeat(nodeA.node_secret, [], 2);
    expect(after.body.desired.map((d) => d.instance_id)).not.toContain(instance.id);
    expectError(
      await h.admin('GET', `/deployments/${created.body.id}`),
      404,
      'deployment_not_found',
    );
  });

  it('scales replicas over nodes with room, and replaces instances when the spec changes', async () => {
    const created = await h.adminOk(DeploymentSchema, 'POST', '/deployments', {
      model: 'scaled',
      recipe: 'sim',
      options: { gpus: 1 },
    });
    expect(created.body.instances).toHaveLength(1);
    const scaled = await h.adminOk(DeploymentSchema, 'PATCH', `/deployments/${created.body.id}`, {
      replicas: 3,
    });
    // place-a has 2 GPUs and place-b 1: three one-GPU replicas fit, spread over both.
    expect(scaled.body.instances.map((i) => i.replica)).toEqual([0, 1, 2]);
    const perNode = (d: Deployment, id: string) =>
      d.instances.filter((i) => i.node_id === id).length;
    expect(perNode(scaled.body, nodeA.node_id)).toBe(2);
    expect(perNode(scaled.body, nodeB.node_id)).toBe(1);
    const ids = scaled.body.instances.map((i) => i.id);
    expect(ids).toContain(created.body.instances[0]?.id);

    const respec = await h.adminOk(DeploymentSchema, 'PATCH', `/deployments/${created.body.id}`, {
      options: { gpus: 1, seed: 3 },
    });
    expect(respec.body.instances).toHaveLength(3);
    for (const i of respec.body.instances) expect(ids).not.toContain(i.id);

    const down = await h.adminOk(DeploymentSchema, 'PATCH', `/deployments/${created.body.id}`, {
      replicas: 1,
    });
    expect(down.body.instances.map((i) => i.replica)).toEqual([0]);
    const list = await h.adminOk(DeploymentListSchema, 'GET', '/deployments');
    expect(list.body.data.find((d) => d.id === created.body.id)?.instances).toHaveLength(1);
    await h.adminOk(DeletedDeploymentSchema, 'DELETE', `/deployments/${created.body.id}`);
  });

  it('shows nodes offline after three silent intervals and moves work off a removed node', async () => {
    const created = await h.adminOk(DeploymentSchema, 'POST', '/deployments', {
      model: 'movable',
      recipe: 'sim',
      replicas: 2,
    });
    expect(new Set(created.body.instances.map((i) => i.node_id))).toEqual(
      new Set([nodeA.node_id, nodeB.node_id]),
    );
    h.clock.advance(3 * HEARTBEAT_S * 1000 + 1000);
    await h.heartbeat(nodeA.node_secret, [], 2);
    const listed = await h.adminOk(NodeListSchema, 'GET', '/nodes');
    const status = new Map(listed.body.data.map((n) => [n.id, n.status]));
    expect(status.get(nodeA.node_id)).toBe('online');
    expect(status.get(nodeB.node_id)).toBe('offline');

    const removed = await h.adminOk(DeletedNodeSchema, 'DELETE', `/nodes/${nodeB.node_id}`);
    expect(removed.body).toEqual({ id: nodeB.node_id, object: 'node', deleted: true });
    const rows = await h.db
      .select()
      .from(deploymentInstances)
      .where(eq(deploymentInstances.nodeId, nodeB.node_id));
    expect(rows).toEqual([]);
    const moved = await h.adminOk(DeploymentSchema, 'GET', `/deployments/${created.body.id}`);
    expect(moved.body.instances.map((i) => i.node_id)).toEqual([nodeA.node_id, nodeA.node_id]);
    expectError(await h.sendHeartbeat(nodeB.node_secret), 401, 'invalid_node_secret');
    expectError(await h.admin('GET', `/nodes/${nodeB.node_id}`), 404, 'node_not_found');
    await h.adminOk(DeletedDeploymentSchema, 'DELETE', `/deployments/${created.body.id}`);
    nodeB = await h.registerNode('place-b2', 'http://127.0.0.1:9', 1);
  });
});

// A replica that fits nowhere says why, in the admin API (GET /deployments and
// /deployments/{id}), with the fleet as it is at the time of the answer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeploymentListSchema, DeploymentSchema } from '../../schema/admin.ts';
import {
  HEARTBEAT_S,
  startGatewayHarness,
  type GatewayHarness,
} from '../support/gateway-harness.ts';

describe('unplaced replicas', () => {
  let h: GatewayHarness;
  beforeAll(async () => {
    h = await startGatewayHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('names each node with its free GPUs or that it is offline, and follows the fleet', async () => {
    const gpu1 = await h.registerNode('gpu-1', undefined, 2);
    const gpu2 = await h.registerNode('gpu-2', undefined, 4);
    await h.heartbeat(gpu1.node_secret, [], 2);
    await h.heartbeat(gpu2.node_secret, [], 4);
    // gpu-2 falls silent for longer than 3 heartbeat intervals: offline.
    h.clock.advance(2 * HEARTBEAT_S * 1000);
    await h.heartbeat(gpu1.node_secret, [], 2);
    h.clock.advance(2 * HEARTBEAT_S * 1000);
    await h.heartbeat(gpu1.node_secret, [], 2);

    const created = await h.adminOk(DeploymentSchema, 'POST', '/deployments', {
      model: 'needs-gpus',
      recipe: 'vllm',
      options: { gpus: 1 },
      replicas: 3,
    });
    expect(created.body.instances.map((i) => i.node_id)).toEqual([gpu1.node_id, gpu1.node_id]);
    expect(created.body.unplaced).toEqual({
      replicas: [2],
      reason: 'no online node has 1 free GPU; gpu-1: 0 of 2 free, gpu-2: offline',
    });
    const listed = await h.adminOk(DeploymentListSchema, 'GET', '/deployments');
    expect(listed.body.data.find((d) => d.id === created.body.id)?.unplaced).toEqual(
      created.body.unplaced,
    );

    // gpu-2 comes back: the replica is placed there, and nothing is unplaced any more.
    await h.heartbeat(gpu2.node_secret, [], 4);
    const placed = await h.adminOk(DeploymentSchema, 'GET', `/deployments/${created.body.id}`);
    expect(placed.body.unplaced).toBeNull();
    expect(placed.body.instances.map((i) => i.node_id).sort()).toEqual(
      [gpu1.node_id, gpu1.node_id, gpu2.node_id].sort(),
    );
  });
});

import { describe, expect, it } from 'vitest';
import {
  planPlacement,
  type PlacementDeployment,
  type PlacementInput,
  type PlacementInstance,
  type PlacementNode,
} from './scheduler.ts';

const NOW = 10_000_000;
const INTERVAL_S = 5;
const online = (id: string, gpuCount = 0): PlacementNode => ({
  id,
  gpuCount,
  lastHeartbeatAt: NOW - 1000,
});
// Silent for 4 intervals: offline, but not for long.
const late = (id: string, gpuCount = 0): PlacementNode => ({
  id,
  gpuCount,
  lastHeartbeatAt: NOW - 4 * INTERVAL_S * 1000,
});
// Silent for 11 intervals: its replicas may move.
const gone = (id: string, gpuCount = 0): PlacementNode => ({
  id,
  gpuCount,
  lastHeartbeatAt: NOW - 11 * INTERVAL_S * 1000,
});
const dep = (id: string, replicas: number, gpus = 0, nodeId: string | null = null) =>
  ({ id, replicas, gpus, nodeId }) satisfies PlacementDeployment;
const inst = (id: string, deploymentId: string, nodeId: string, replica = 0) =>
  ({ id, deploymentId, nodeId, replica }) satisfies PlacementInstance;

function plan(input: Partial<PlacementInput>) {
  return planPlacement({
    deployments: [],
    nodes: [],
    instances: [],
    now: NOW,
    heartbeatIntervalS: INTERVAL_S,
    ...input,
  });
}

describe('planPlacement', () => {
  it('leaves a placement that is already right alone', () => {
    const p = plan({
      deployments: [dep('d1', 2)],
      nodes: [online('a'), online('b')],
      instances: [inst('i1', 'd1', 'a', 0), inst('i2', 'd1', 'b', 1)],
    });
    expect(p).toEqual({ create: [], remove: [], unplaced: [] });
  });

  it('spreads replicas over nodes, least loaded first', () => {
    const p = plan({
      deployments: [dep('busy', 1), dep('d1', 2)],
      nodes: [online('a'), online('b'), online('c')],
      instances: [inst('i0', 'busy', 'a')],
    });
    expect(p.create).toEqual([
      { deploymentId: 'd1', nodeId: 'b', replica: 0 },
      { deploymentId: 'd1', nodeId: 'c', replica: 1 },
    ]);
  });

  it('puts a second replica on the same node only when no other node can take it', () => {
    const p = plan({ deployments: [dep('d1', 3)], nodes: [online('a'), online('b')] });
    expect(p.create.map((c) => c.nodeId)).toEqual(['a', 'b', 'a']);
  });

  it('counts GPUs already reserved by instances on a node', () => {
    const p = plan({
      deployments: [dep('big', 1, 2), dep('d1', 2, 2)],
      nodes: [online('a', 4), online('b', 2)],
      instances: [inst('i0', 'big', 'a')],
    });
    // a has 2 free, b has 2 free: one replica each.
    expect(p.create.map((c) => c.nodeId).sort()).toEqual(['a', 'b']);
    const full = plan({
      deployments: [dep('big', 1, 2), dep('d1', 2, 2)],
      nodes: [online('a', 2), online('b', 2)],
      instances: [inst('i0', 'big', 'a')],
    });
    expect(full.create).toEqual([{ deploymentId: 'd1', nodeId: 'b', replica: 0 }]);
    expect(full.unplaced).toEqual([
      {
        deploymentId: 'd1',
        replicas: [1],
        reason: 'no online node has 2 free GPUs; a: 0 of 2 free, b: 0 of 2 free',
      },
    ]);
  });

  it('never places on an offline node unless pinned there', () => {
    const p = plan({ deployments: [dep('d1', 1)], nodes: [late('a')] });
    expect(p.create).toEqual([]);
    expect(p.unplaced).toEqual([
      { deploymentId: 'd1', replicas: [0], reason: 'no node is online; a: offline' },
    ]);
    const pinned = plan({ deployments: [dep('d1', 2, 0, 'a')], nodes: [late('a'), online('b')] });
    expect(pinned.create).toEqual([
      { deploymentId: 'd1', nodeId: 'a', replica: 0 },
      { deploymentId: 'd1', nodeId: 'a', replica: 1 },
    ]);
  });

  it('moves replicas off a node that is not the pinned one', () => {
    const p = plan({
      deployments: [dep('d1', 1, 0, 'b')],
      nodes: [online('a'), online('b')],
      instances: [inst('i1', 'd1', 'a')],
    });
    expect(p.remove).toEqual([{ instanceId: 'i1', reason: 'not_pinned_node' }]);
    expect(p.create).toEqual([{ deploymentId: 'd1', nodeId: 'b', replica: 0 }]);
  });

  it('leaves a pinned replica unplaced when its node no longer exists', () => {
    const p = plan({ deployments: [dep('d1', 1, 0, 'x')], nodes: [online('a')] });
    expect(p.create).toEqual([]);
    expect(p.unplaced).toEqual([
      { deploymentId: 'd1', replicas: [0], reason: "pinned node 'x' is not registered" },
    ]);
  });

  it('removes surplus replicas, duplicates, and instances of deleted deployments or nodes', () => {
    const p = plan({
      deployments: [dep('d1', 1)],
      nodes: [online('a')],
      instances: [
        inst('i0', 'd1', 'a', 0),
        inst('i0b', 'd1', 'a', 0),
        inst('i1', 'd1', 'a', 1),
        inst('i2', 'gone-dep', 'a', 0),
        inst('i3', 'd1', 'gone-node', 2),
      ],
    });
    expect(p.remove).toEqual([
      { instanceId: 'i0b', reason: 'duplicate' },
      { instanceId: 'i2', reason: 'deployment_gone' },
      { instanceId: 'i1', reason: 'surplus' },
      { instanceId: 'i3', reason: 'node_gone' },
    ]);
    expect(p.create).toEqual([]);
  });

  it('keeps replicas on a node that is only late', () => {
    const p = plan({
      deployments: [dep('d1', 1)],
      nodes: [late('a'), online('b')],
      instances: [inst('i1', 'd1', 'a')],
    });
    expect(p).toEqual({ create: [], remove: [], unplaced: [] });
  });

  it('moves replicas off a node silent for long, when another node has room', () => {
    const p = plan({
      deployments: [dep('d1', 1, 1)],
      nodes: [gone('a', 1), online('b', 1)],
      instances: [inst('i1', 'd1', 'a')],
    });
    expect(p.remove).toEqual([{ instanceId: 'i1', reason: 'moved' }]);
    expect(p.create).toEqual([{ deploymentId: 'd1', nodeId: 'b', replica: 0 }]);
    // Nowhere to go: it stays, so it comes back with its node.
    const stuck = plan({
      deployments: [dep('d1', 1, 2)],
      nodes: [gone('a', 2), online('b', 1)],
      instances: [inst('i1', 'd1', 'a')],
    });
    expect(stuck).toEqual({ create: [], remove: [], unplaced: [] });
  });

  it('does not move pinned replicas', () => {
    const p = plan({
      deployments: [dep('d1', 1, 0, 'a')],
      nodes: [gone('a'), online('b')],
      instances: [inst('i1', 'd1', 'a')],
    });
    expect(p).toEqual({ create: [], remove: [], unplaced: [] });
  });

  it('scales to zero', () => {
    const p = plan({
      deployments: [dep('d1', 0)],
      nodes: [online('a')],
      instances: [inst('i1', 'd1', 'a', 0)],
    });
    expect(p.remove).toEqual([{ instanceId: 'i1', reason: 'surplus' }]);
    expect(p.create).toEqual([]);
  });

  it('places GPU deployments only where the GPUs are', () => {
    const p = plan({
      deployments: [dep('d1', 1, 1)],
      nodes: [online('cpu-only'), online('gpu', 1)],
    });
    expect(p.create).toEqual([{ deploymentId: 'd1', nodeId: 'gpu', replica: 0 }]);
  });

  it('says why a replica fits nowhere, naming each node by name', () => {
    const p = plan({
      deployments: [dep('big', 2, 1)],
      nodes: [
        { ...online('n1', 2), name: 'gpu-1' },
        { ...late('n2', 4), name: 'gpu-2' },
        { ...online('n0', 0), name: 'cpu-0' },
      ],
      instances: [inst('i0', 'big', 'n1')],
    });
    // Replica 1 goes to gpu-1's second GPU; nothing is left for a third.
    expect(p.unplaced).toEqual([]);
    const more = plan({
      deployments: [dep('big', 3, 1)],
      nodes: [
        { ...online('n1', 2), name: 'gpu-1' },
        { ...late('n2', 4), name: 'gpu-2' },
      ],
      instances: [inst('i0', 'big', 'n1')],
    });
    expect(more.unplaced).toEqual([
      {
        deploymentId: 'big',
        replicas: [2],
        reason: 'no online node has 1 free GPU; gpu-1: 0 of 2 free, gpu-2: offline',
      },
    ]);
    expect(plan({ deployments: [dep('d', 1)], nodes: [] }).unplaced[0]?.reason).toBe(
      'no node is registered',
    );
  });
});

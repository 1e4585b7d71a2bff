import { eq } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deploymentInstances, deployments, nodes } from '../../../schema/db.ts';
import { createTempDb, type TempDb } from '../testing/temp-db.ts';
import { createRoutingCache, loadRoutingTable } from './table.ts';

const NOW = 1_800_000_000_000;
const HEARTBEAT_S = 5;
let temp: TempDb;

beforeEach(async () => {
  temp = await createTempDb();
  const { db } = temp;
  const node = (id: string, lastHeartbeatAt: number | null) => ({
    id,
    name: id,
    advertiseUrl: `http://${id}.test:9000`,
    secretHash: `hash-${id}`,
    daemonVersion: '1',
    gpus: [],
    lastHeartbeatAt,
  });
  await db
    .insert(nodes)
    .values([
      node('fresh', NOW - 1000),
      node('edge', NOW - 3 * HEARTBEAT_S * 1000),
      node('stale', NOW - 3 * HEARTBEAT_S * 1000 - 1),
      node('never', null),
    ]);
  const deployment = (id: string, model: string, createdAt: number) => ({
    id,
    model,
    recipe: 'sim' as const,
    options: {},
    placement: {},
    createdAt,
  });
  await db
    .insert(deployments)
    .values([
      deployment('d1', 'llama', 2_000_000),
      deployment('d2', 'llama', 1_000_000),
      deployment('d3', 'qwen', 3_000_000),
      deployment('d4', 'idle', 4_000_000),
    ]);
  const instance = (
    id: string,
    deploymentId: string,
    nodeId: string,
    replica: number,
    state: 'ready' | 'starting',
  ) => ({
    id,
    deploymentId,
    nodeId,
    replica,
    state,
  });
  await db
    .insert(deploymentInstances)
    .values([
      instance('i1', 'd1', 'fresh', 0, 'ready'),
      instance('i2', 'd1', 'edge', 1, 'ready'),
      instance('i3', 'd1', 'stale', 2, 'ready'),
      instance('i4', 'd2', 'fresh', 0, 'ready'),
      instance('i5', 'd3', 'fresh', 0, 'starting'),
      instance('i6', 'd3', 'never', 1, 'ready'),
    ]);
});

afterEach(async () => {
  await temp.close();
});

describe('loadRoutingTable', () => {
  it('lists ready instances on online nodes, per model name across deployments', async () => {
    const table = await loadRoutingTable(temp.db, { now: NOW, heartbeatIntervalS: HEARTBEAT_S });
    expect([...table.keys()].sort()).toEqual(['idle', 'llama', 'qwen']);
    const llama = table.get('llama');
    expect(llama?.created).toBe(1000);
    expect(llama?.targets).toEqual([
      {
        instanceId: 'i1',
        deploymentId: 'd1',
        nodeId: 'fresh',
        advertiseUrl: 'http://fresh.test:9000',
        capacity: 256,
      },
      {
        instanceId: 'i2',
        deploymentId: 'd1',
        nodeId: 'edge',
        advertiseUrl: 'http://edge.test:9000',
        capacity: 256,
      },
      {
        instanceId: 'i4',
        deploymentId: 'd2',
        nodeId: 'fresh',
        advertiseUrl: 'http://fresh.test:9000',
        capacity: 256,
      },
    ]);
  });

  it('takes the routing policy of the oldest deployment, capacities from options, and heartbeat figures', async () => {
    await temp.db
      .update(deployments)
      .set({ routing: 'least_load' })
      .where(eq(deployments.id, 'd2'));
    await temp.db
      .update(deployments)
      .set({ options: { max_num_seqs: 8 } })
      .where(eq(deployments.id, 'd1'));
    await temp.db
      .update(deploymentInstances)
      .set({
        metrics: { requests_running: 3, requests_waiting: 2, kv_cache_usage: 0.5, in_flight: 4 },
      })
      .where(eq(deploymentInstances.id, 'i1'));
    const table = await loadRoutingTable(temp.db, { now: NOW, heartbeatIntervalS: HEARTBEAT_S });
    const llama = table.get('llama');
    expect(llama?.policy).toBe('least_load');
    expect(table.get('qwen')?.policy).toBe('prefix');
    expect(llama?.targets.map((t) => [t.instanceId, t.capacity])).toEqual([
      ['i1', 8],
      ['i2', 8],
      ['i4', 256],
    ]);
    expect(llama?.engine.get('i1')).toEqual({ running: 3, waiting: 2, kvCacheUsage: 0.5 });
    expect(llama?.engine.has('i2')).toBe(false);
  });

  it('knows models that have nothing ready (not ready, node offline, no instance at all)', async () => {
    const table = await loadRoutingTable(temp.db, { now: NOW, heartbeatIntervalS: HEARTBEAT_S });
    expect(table.get('qwen')?.targets).toEqual([]);
    expect(table.get('idle')?.targets).toEqual([]);
    expect(table.get('unknown')).toBeUndefined();
  });
});

describe('createRoutingCache', () => {
  it('serves the cached table until the ttl passes, then reloads', async () => {
    let now = NOW;
    const cache = createRoutingCache(temp.db, {
      cacheTtlMs: 2000,
      heartbeatIntervalS: HEARTBEAT_S,
      now: () => now,
    });
    expect((await cache.get()).get('qwen')?.targets).toHaveLength(0);
    await temp.db.insert(deploymentInstances).values({
      id: 'i7',
      deploymentId: 'd3',
      nodeId: 'fresh',
      replica: 2,
      state: 'ready',
    });
    now += 1999;
    expect((await cache.get()).get('qwen')?.targets).toHaveLength(0);
    now += 1;
    expect((await cache.get()).get('qwen')?.targets.map((t) => t.instanceId)).toEqual(['i7']);
  });

  it('shares one load between concurrent misses', async () => {
    const cache = createRoutingCache(temp.db, {
      cacheTtlMs: 2000,
      heartbeatIntervalS: HEARTBEAT_S,
      now: () => NOW,
    });
    const [a, b] = await Promise.all([cache.get(), cache.get()]);
    expect(a).toBe(b);
  });
});

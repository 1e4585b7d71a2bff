// Queries on the nodes table: registration, heartbeats (with the instance states a node
// reports), the admin API's reads and removal, and the database form of "online".
import { and, asc, eq, gte, type SQL } from 'drizzle-orm';
import type { GpuInfo, InstanceState } from '../../../schema/contracts.ts';
import { deploymentInstances, nodes } from '../../../schema/db.ts';
import { onlineSince } from '../control-plane/liveness.ts';
import type { Db } from './db.ts';

export type NodeRow = typeof nodes.$inferSelect;
export type NewNode = typeof nodes.$inferInsert;

// The SQL form of liveness.isOnline: a node whose last heartbeat counts as online at `now`
// (a node that never sent one fails it, as NULL >= x is not true).
export function nodeIsOnline(now: number, heartbeatIntervalS: number): SQL {
  return gte(nodes.lastHeartbeatAt, onlineSince(now, heartbeatIntervalS));
}

export async function findNodeIdByName(db: Db, name: string): Promise<string | undefined> {
  const [row] = await db.select({ id: nodes.id }).from(nodes).where(eq(nodes.name, name)).limit(1);
  return row?.id;
}

export async function insertNode(db: Db, node: NewNode): Promise<void> {
  await db.insert(nodes).values(node);
}

// What a heartbeat needs to know about the node presenting this secret.
export async function findNodeBySecretHash(db: Db, secretHash: string) {
  const [row] = await db
    .select({ id: nodes.id, gpus: nodes.gpus, lastHeartbeatAt: nodes.lastHeartbeatAt })
    .from(nodes)
    .where(eq(nodes.secretHash, secretHash))
    .limit(1);
  return row;
}

export async function findNodeGpus(db: Db, id: string): Promise<GpuInfo[] | undefined> {
  const [row] = await db.select({ gpus: nodes.gpus }).from(nodes).where(eq(nodes.id, id)).limit(1);
  return row?.gpus;
}

export interface InstanceReport {
  instanceId: string;
  state: InstanceState;
  detail: string | null;
  gpuIndices: number[];
  metrics: Record<string, number>;
}

// One heartbeat, written atomically: the node's liveness, version, GPUs and load, and the
// state of each instance it reports. Only instances assigned to this node are updated: a
// node cannot report on another's.
export async function recordHeartbeat(
  db: Db,
  nodeId: string,
  beat: { at: number; daemonVersion: string; gpus: GpuInfo[]; stats: Record<string, unknown> },
  reports: readonly InstanceReport[],
): Promise<void> {
  await db.batch([
    db
      .update(nodes)
      .set({
        lastHeartbeatAt: beat.at,
        daemonVersion: beat.daemonVersion,
        gpus: beat.gpus,
        stats: beat.stats,
      })
      .where(eq(nodes.id, nodeId)),
    ...reports.map((r) =>
      db
        .update(deploymentInstances)
        .set({
          state: r.state,
          detail: r.detail,
          gpuIndices: r.gpuIndices,
          metrics: r.metrics,
          updatedAt: beat.at,
        })
        .where(
          and(eq(deploymentInstances.id, r.instanceId), eq(deploymentInstances.nodeId, nodeId)),
        ),
    ),
  ]);
}

export function listNodes(db: Db): Promise<NodeRow[]> {
  return db.select().from(nodes).orderBy(asc(nodes.createdAt), asc(nodes.id));
}

export async function findNode(db: Db, id: string): Promise<NodeRow | undefined> {
  const [row] = await db.select().from(nodes).where(eq(nodes.id, id)).limit(1);
  return row;
}

// Removes the node and its instances (explicitly: SQLite foreign keys may be off). False
// when there was no such node.
export async function deleteNodeWithInstances(db: Db, id: string): Promise<boolean> {
  const [, removed] = await db.batch([
    db.delete(deploymentInstances).where(eq(deploymentInstances.nodeId, id)),
    db.delete(nodes).where(eq(nodes.id, id)).returning({ id: nodes.id }),
  ]);
  return removed.length > 0;
}

// Queries on the nodes table: registration, heartbeats (with the instance states a node
// reports), the admin API's reads and removal, and the database form of "online".
import { and, asc, eq, gt, gte, lt, sql, type SQL } from 'drizzle-orm';
import type { GpuInfo, InstanceState } from '../../../schema/contracts.ts';
import { deploymentInstances, nodes, registrationTokens } from '../../../schema/db.ts';
import { onlineSince } from '../control-plane/liveness.ts';
import type { Db } from './db.ts';

export type NodeRow = typeof nodes.$inferSelect;

// The SQL form of liveness.isOnline: a node whose last heartbeat counts as online at `now`
// (a node that never sent one fails it, as NULL >= x is not true).
export function nodeIsOnline(now: number, heartbeatIntervalS: number): SQL {
  return gte(nodes.lastHeartbeatAt, onlineSince(now, heartbeatIntervalS));
}

export async function findNodeIdByName(db: Db, name: string): Promise<string | undefined> {
  const [row] = await db.select({ id: nodes.id }).from(nodes).where(eq(nodes.name, name)).limit(1);
  return row?.id;
}

export interface NewNode {
  id: string;
  name: string;
  advertiseUrl: string;
  secretHash: string;
  daemonVersion: string;
  gpus: GpuInfo[];
}

export type Registration = 'registered' | 'name_taken' | 'token_used_up';

// Inserts the node and takes one use of its registration token, both or neither, in one
// batch (a transaction): the insert happens only while the token has a use left and is
// valid at `at`, and the use is taken only when the node was inserted. A name already
// registered (the unique index, which concurrent registrations of one name run into)
// fails the batch, so the token keeps its use. The node is offline until its first
// heartbeat: registered is not yet running.
export async function registerNode(
  db: Db,
  node: NewNode,
  tokenId: string,
  at: number,
): Promise<Registration> {
  // INSERT ... SELECT: drizzle wants every column, in the table's order.
  const insert = db.insert(nodes).select((qb) =>
    qb
      .select({
        id: sql<string>`${node.id}`.as('id'),
        name: sql<string>`${node.name}`.as('name'),
        advertiseUrl: sql<string>`${node.advertiseUrl}`.as('advertise_url'),
        secretHash: sql<string>`${node.secretHash}`.as('secret_hash'),
        daemonVersion: sql<string>`${node.daemonVersion}`.as('daemon_version'),
        gpus: sql<string>`${JSON.stringify(node.gpus)}`.as('gpus'),
        stats: sql<null>`null`.as('stats'),
        registrationTokenId: registrationTokens.id,
        createdAt: sql<number>`${at}`.as('created_at'),
        lastHeartbeatAt: sql<null>`null`.as('last_heartbeat_at'),
      })
      .from(registrationTokens)
      .where(
        and(
          eq(registrationTokens.id, tokenId),
          lt(registrationTokens.uses, registrationTokens.maxUses),
          gt(registrationTokens.expiresAt, at),
        ),
      ),
  );
  const takeUse = db
    .update(registrationTokens)
    .set({ uses: sql`${registrationTokens.uses} + 1` })
    .where(
      and(
        eq(registrationTokens.id, tokenId),
        sql`exists (select 1 from ${nodes} where ${eq(nodes.id, node.id)})`,
      ),
    );
  const inserted = db.select({ id: nodes.id }).from(nodes).where(eq(nodes.id, node.id));
  try {
    const [, , rows] = await db.batch([insert, takeUse, inserted]);
    return rows.length > 0 ? 'registered' : 'token_used_up';
  } catch (err) {
    if (violates(err, 'nodes.name')) return 'name_taken';
    throw err;
  }
}

// A unique constraint on `column` (table.column) failed, as libSQL and D1 word it, in the
// error or any of its causes.
function violates(err: unknown, column: string): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e.message.includes(`UNIQUE constraint failed: ${column}`)) return true;
  }
  return false;
}

// What a heartbeat needs to know about the node presenting this secret.
export async function findNodeBySecretHash(db: Db, secretHash: string) {
  const [row] = await db
    .select({
      id: nodes.id,
      advertiseUrl: nodes.advertiseUrl,
      gpus: nodes.gpus,
      lastHeartbeatAt: nodes.lastHeartbeatAt,
    })
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

// How many nodes are online and offline at `now` (GET /metrics).
export async function countNodesByLiveness(
  db: Db,
  now: number,
  heartbeatIntervalS: number,
): Promise<{ online: number; offline: number }> {
  const [row] = await db
    .select({
      total: sql<number>`count(*)`,
      online: sql<number>`coalesce(sum(case when ${nodeIsOnline(now, heartbeatIntervalS)} then 1 else 0 end), 0)`,
    })
    .from(nodes);
  const total = Number(row?.total ?? 0);
  const online = Number(row?.online ?? 0);
  return { online, offline: total - online };
}

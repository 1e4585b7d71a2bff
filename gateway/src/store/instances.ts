// Queries on the deployment_instances table: instances as the admin API shows them (inside
// deployments and nodes), what a node is told to run, and where a replica runs.
import { and, asc, eq, sql } from 'drizzle-orm';
import type { Instance } from '../../../schema/admin.ts';
import { deploymentInstances, deployments, nodes } from '../../../schema/db.ts';
import { toUnixSeconds } from '../lib/time.ts';
import type { Db } from './db.ts';

// The admin API's contract for an instance (schema/admin.ts).
export type InstanceView = Instance;

const columns = {
  id: deploymentInstances.id,
  deploymentId: deploymentInstances.deploymentId,
  model: deployments.model,
  nodeId: deploymentInstances.nodeId,
  replica: deploymentInstances.replica,
  state: deploymentInstances.state,
  detail: deploymentInstances.detail,
  gpuIndices: deploymentInstances.gpuIndices,
  metrics: deploymentInstances.metrics,
  updatedAt: deploymentInstances.updatedAt,
};

type Row = Awaited<ReturnType<typeof selectInstances>>[number];

function selectInstances(db: Db, by: 'deployment' | 'node', id: string | undefined) {
  const column =
    by === 'deployment' ? deploymentInstances.deploymentId : deploymentInstances.nodeId;
  return db
    .select(columns)
    .from(deploymentInstances)
    .innerJoin(deployments, eq(deployments.id, deploymentInstances.deploymentId))
    .where(id === undefined ? undefined : eq(column, id))
    .orderBy(asc(deploymentInstances.deploymentId), asc(deploymentInstances.replica));
}

function view(r: Row): InstanceView {
  return {
    id: r.id,
    object: 'deployment.instance',
    deployment_id: r.deploymentId,
    model: r.model,
    node_id: r.nodeId,
    replica: r.replica,
    state: r.state,
    detail: r.detail,
    gpu_indices: r.gpuIndices ?? [],
    metrics: r.metrics,
    updated_at: toUnixSeconds(r.updatedAt),
  };
}

// Instances grouped by deployment id (or node id), in replica order: of one deployment (or
// node) when `id` is given, else all of them (one query either way).
export async function instancesBy(
  db: Db,
  by: 'deployment' | 'node',
  id?: string,
): Promise<Map<string, InstanceView[]>> {
  const grouped = new Map<string, InstanceView[]>();
  for (const row of await selectInstances(db, by, id)) {
    const key = by === 'deployment' ? row.deploymentId : row.nodeId;
    let list = grouped.get(key);
    if (!list) grouped.set(key, (list = []));
    list.push(view(row));
  }
  return grouped;
}

// The instances assigned to a node, with their deployment's engine spec (what the node is
// told to run, in a stable order).
export function instancesAssignedTo(db: Db, nodeId: string) {
  return db
    .select({
      instanceId: deploymentInstances.id,
      deploymentId: deployments.id,
      model: deployments.model,
      recipe: deployments.recipe,
      options: deployments.options,
    })
    .from(deploymentInstances)
    .innerJoin(deployments, eq(deployments.id, deploymentInstances.deploymentId))
    .where(eq(deploymentInstances.nodeId, nodeId))
    .orderBy(deploymentInstances.id);
}

// A deployment's instance (the given replica, else the lowest) with the node it is on.
// Undefined when the deployment (or that replica) does not exist; the instance and node
// fields are null when the deployment exists with no instance placed.
export async function findPlacedInstance(db: Db, deploymentId: string, replica?: number) {
  const [row] = await db
    .select({
      instanceId: deploymentInstances.id,
      replica: deploymentInstances.replica,
      model: deployments.model,
      nodeId: nodes.id,
      advertiseUrl: nodes.advertiseUrl,
      lastHeartbeatAt: nodes.lastHeartbeatAt,
    })
    .from(deployments)
    .leftJoin(deploymentInstances, eq(deploymentInstances.deploymentId, deployments.id))
    .leftJoin(nodes, eq(nodes.id, deploymentInstances.nodeId))
    .where(
      replica === undefined
        ? eq(deployments.id, deploymentId)
        : and(eq(deployments.id, deploymentId), eq(deploymentInstances.replica, replica)),
    )
    .orderBy(asc(deploymentInstances.replica))
    .limit(1);
  return row;
}

// How many deployment instances are in each state, as their nodes last reported
// (GET /metrics).
export async function countInstancesByState(db: Db): Promise<Map<string, number>> {
  const rows = await db
    .select({ state: deploymentInstances.state, n: sql<number>`count(*)` })
    .from(deploymentInstances)
    .groupBy(deploymentInstances.state);
  return new Map(rows.map((r) => [r.state, Number(r.n)]));
}

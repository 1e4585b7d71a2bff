// Deployment instances as the admin API shows them (inside deployments and nodes).
import { asc, eq } from 'drizzle-orm';
import { deploymentInstances, deployments } from '../../../schema/db.ts';
import { toUnixSeconds } from '../lib/time.ts';
import type { Db } from './db.ts';

export interface InstanceView {
  id: string;
  object: 'deployment.instance';
  deployment_id: string;
  model: string;
  node_id: string;
  replica: number;
  state: string;
  detail: string | null;
  gpu_indices: number[];
  metrics: Record<string, number> | null;
  updated_at: number;
}

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

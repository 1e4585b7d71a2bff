// Placement's reads and writes (control-plane/reconcile.ts): deployments, nodes and
// instances read in one batch, and the plan's instance inserts and deletes written in one
// batch. Inserts ignore a replica another host placed first (unique deployment/replica
// index), so concurrent runs on several hosts cannot double-place a replica.
import { inArray } from 'drizzle-orm';
import { deploymentInstances, deployments, nodes } from '../../../schema/db.ts';
import { newId } from '../lib/ids.ts';
import type { Db } from './db.ts';

// D1 binds at most 100 parameters per statement.
const IDS_PER_DELETE = 90;

export async function loadPlacementState(db: Db) {
  const [deploymentRows, nodeRows, instances] = await db.batch([
    db
      .select({
        id: deployments.id,
        recipe: deployments.recipe,
        options: deployments.options,
        placement: deployments.placement,
        replicas: deployments.replicas,
        createdAt: deployments.createdAt,
      })
      .from(deployments),
    db
      .select({
        id: nodes.id,
        name: nodes.name,
        gpus: nodes.gpus,
        lastHeartbeatAt: nodes.lastHeartbeatAt,
      })
      .from(nodes),
    db
      .select({
        id: deploymentInstances.id,
        deploymentId: deploymentInstances.deploymentId,
        nodeId: deploymentInstances.nodeId,
        replica: deploymentInstances.replica,
      })
      .from(deploymentInstances),
  ]);
  return { deployments: deploymentRows, nodes: nodeRows, instances };
}

export async function writePlacement(
  db: Db,
  changes: {
    removeIds: readonly string[];
    create: readonly { deploymentId: string; nodeId: string; replica: number }[];
  },
  at: number,
): Promise<void> {
  const statements = [];
  for (let i = 0; i < changes.removeIds.length; i += IDS_PER_DELETE) {
    const ids = changes.removeIds.slice(i, i + IDS_PER_DELETE);
    statements.push(db.delete(deploymentInstances).where(inArray(deploymentInstances.id, ids)));
  }
  for (const c of changes.create) {
    statements.push(
      db
        .insert(deploymentInstances)
        .values({
          id: newId('inst'),
          deploymentId: c.deploymentId,
          nodeId: c.nodeId,
          replica: c.replica,
          state: 'pending',
          updatedAt: at,
        })
        .onConflictDoNothing(),
    );
  }
  const [first, ...rest] = statements;
  if (first) await db.batch([first, ...rest]);
}

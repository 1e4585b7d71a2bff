// Queries on the deployments table (the admin API's); a deployment's instances go with it
// when it is removed or its engine spec changes.
import { and, asc, eq } from 'drizzle-orm';
import { deploymentInstances, deployments, nodes } from '../../../schema/db.ts';
import type { Db } from './db.ts';
import { nodeIsOnline } from './nodes.ts';

export type DeploymentRow = typeof deployments.$inferSelect;
export type NewDeployment = typeof deployments.$inferInsert;

export async function findDeployment(db: Db, id: string): Promise<DeploymentRow | undefined> {
  const [row] = await db.select().from(deployments).where(eq(deployments.id, id)).limit(1);
  return row;
}

export function listDeployments(db: Db): Promise<DeploymentRow[]> {
  return db.select().from(deployments).orderBy(asc(deployments.createdAt), asc(deployments.id));
}

export async function insertDeployment(db: Db, deployment: NewDeployment): Promise<void> {
  await db.insert(deployments).values(deployment);
}

// Changes a deployment; with `dropInstances` its instances are removed in the same batch
// (a changed engine spec gets fresh instances). False when there was no such deployment.
export async function updateDeployment(
  db: Db,
  id: string,
  changes: Partial<NewDeployment>,
  opts: { dropInstances: boolean },
): Promise<boolean> {
  const update = db
    .update(deployments)
    .set(changes)
    .where(eq(deployments.id, id))
    .returning({ id: deployments.id });
  const [updated] = opts.dropInstances
    ? (
        await db.batch([
          update,
          db.delete(deploymentInstances).where(eq(deploymentInstances.deploymentId, id)),
        ])
      )[0]
    : await update;
  return updated !== undefined;
}

// Removes the deployment and its instances. False when there was no such deployment.
export async function deleteDeploymentWithInstances(db: Db, id: string): Promise<boolean> {
  const [, removed] = await db.batch([
    db.delete(deploymentInstances).where(eq(deploymentInstances.deploymentId, id)),
    db.delete(deployments).where(eq(deployments.id, id)).returning({ id: deployments.id }),
  ]);
  return removed.length > 0;
}

// Every deployment with each of its ready instances on an online node (routing/table.ts):
// one row per such instance, or one row with null instance fields for a deployment that
// has none, so a deployed name with nothing ready can be told from an unknown one.
export function selectRoutes(db: Db, opts: { now: number; heartbeatIntervalS: number }) {
  return db
    .select({
      model: deployments.model,
      createdAt: deployments.createdAt,
      deploymentId: deployments.id,
      routing: deployments.routing,
      recipe: deployments.recipe,
      options: deployments.options,
      instanceId: deploymentInstances.id,
      metrics: deploymentInstances.metrics,
      nodeId: nodes.id,
      advertiseUrl: nodes.advertiseUrl,
    })
    .from(deployments)
    .leftJoin(
      deploymentInstances,
      and(
        eq(deploymentInstances.deploymentId, deployments.id),
        eq(deploymentInstances.state, 'ready'),
      ),
    )
    .leftJoin(
      nodes,
      and(
        eq(nodes.id, deploymentInstances.nodeId),
        nodeIsOnline(opts.now, opts.heartbeatIntervalS),
      ),
    )
    .orderBy(asc(deployments.model), asc(deploymentInstances.id));
}

// Applies the placement rules (scheduler.ts) to the database: loads deployments, nodes and
// instances in one batch, plans, and writes the changes in one batch. Runs after every
// deployment or node change and, throttled, on heartbeats. Within one process runs are
// serialized; across hosts, inserts ignore a replica another host placed first (unique
// deployment/replica index), so concurrent runs cannot double-place a replica.
import { inArray } from 'drizzle-orm';
import { parseRecipeOptions } from '../../../schema/recipes.ts';
import { deploymentInstances, deployments, nodes } from '../../../schema/db.ts';
import { newId } from '../lib/ids.ts';
import type { Db } from '../store/db.ts';
import { planPlacement, type Plan } from './scheduler.ts';

// D1 binds at most 100 parameters per statement.
const IDS_PER_DELETE = 90;

export async function reconcilePlacement(
  db: Db,
  opts: { now: number; heartbeatIntervalS: number },
): Promise<Plan> {
  const [deps, nodeRows, instances] = await db.batch([
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
      .select({ id: nodes.id, gpus: nodes.gpus, lastHeartbeatAt: nodes.lastHeartbeatAt })
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

  const plan = planPlacement({
    deployments: deps
      .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id))
      .map((d) => {
        const parsed = parseRecipeOptions(d.recipe, d.options);
        return {
          id: d.id,
          replicas: d.replicas,
          // Options were validated on the way in; a schema change since then must not
          // stop placement of everything else.
          gpus: parsed.ok ? parsed.gpus : 0,
          nodeId: d.placement.node_id ?? null,
        };
      }),
    nodes: nodeRows.map((n) => ({
      id: n.id,
      gpuCount: n.gpus.length,
      lastHeartbeatAt: n.lastHeartbeatAt,
    })),
    instances,
    now: opts.now,
    heartbeatIntervalS: opts.heartbeatIntervalS,
  });

  const statements = [];
  const removed = plan.remove.map((r) => r.instanceId);
  for (let i = 0; i < removed.length; i += IDS_PER_DELETE) {
    const ids = removed.slice(i, i + IDS_PER_DELETE);
    statements.push(db.delete(deploymentInstances).where(inArray(deploymentInstances.id, ids)));
  }
  for (const c of plan.create) {
    statements.push(
      db
        .insert(deploymentInstances)
        .values({
          id: newId('inst'),
          deploymentId: c.deploymentId,
          nodeId: c.nodeId,
          replica: c.replica,
          state: 'pending',
          updatedAt: opts.now,
        })
        .onConflictDoNothing(),
    );
  }
  const [first, ...rest] = statements;
  if (first) await db.batch([first, ...rest]);
  return plan;
}

export interface Reconciler {
  // Runs now (after any run in progress) and returns its plan.
  run(): Promise<Plan>;
  // Runs only if the last run is older than minIntervalMs; never throws (logs instead).
  runIfDue(): Promise<void>;
}

export function createReconciler(
  db: Db,
  opts: { heartbeatIntervalS: number; now: () => number },
): Reconciler {
  const minIntervalMs = opts.heartbeatIntervalS * 1000;
  let lastRunAt = Number.NEGATIVE_INFINITY;
  let chain: Promise<unknown> = Promise.resolve();

  function run(): Promise<Plan> {
    const next = chain.then(() => {
      lastRunAt = opts.now();
      return reconcilePlacement(db, {
        now: lastRunAt,
        heartbeatIntervalS: opts.heartbeatIntervalS,
      });
    });
    chain = next.catch(() => undefined);
    return next;
  }

  return {
    run,
    async runIfDue() {
      if (opts.now() - lastRunAt < minIntervalMs) return;
      try {
        await run();
      } catch (err) {
        console.error('placement failed:', err instanceof Error ? err.message : err);
      }
    },
  };
}
